-- Why each record landed in its band, as a code (crosswalk.matching.decisions): same_chi,
-- same_chi_forenames_disagree, score_above_auto, lead_below_margin, score_in_review_band. Reviewers see it.
ALTER TABLE crosswalk ADD COLUMN reason VARCHAR(40);
