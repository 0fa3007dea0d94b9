-- Level 2 key dates and level 3/4 items of the social-care extract (issue 4's realistic ISP levels).
-- One column per statement: SQLite's ALTER TABLE adds one column at a time.
ALTER TABLE stg_social_care_client ADD COLUMN care_review_due DATE;
ALTER TABLE stg_social_care_client ADD COLUMN last_assessment_date DATE;
ALTER TABLE stg_social_care_client ADD COLUMN assessment_type VARCHAR(60);
ALTER TABLE stg_social_care_client ADD COLUMN primary_support_reason VARCHAR(60);
ALTER TABLE stg_social_care_client ADD COLUMN adult_protection_flag VARCHAR(1);
