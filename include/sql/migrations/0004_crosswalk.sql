-- The crosswalk (the project's namesake): for each source record, what it was matched to, how and
-- how sure. One row per source record; a rerun with the same inputs leaves a row as it was.
CREATE TABLE crosswalk (
    source_system       VARCHAR(64)  NOT NULL,   -- the inbound feed the record came from
    source_record_id    VARCHAR(100) NOT NULL,
    batch_id            VARCHAR(80)  NOT NULL,
    index_batch_id      VARCHAR(80),             -- the index batch it was matched against
    matched_identifier  VARCHAR(10),             -- the CHI, once linked (automatically or by a reviewer)
    matched_record_id   VARCHAR(100),            -- the best candidate, also in the review band
    cluster_id          VARCHAR(100),            -- dedupe cluster, where deduplicated
    method              VARCHAR(20),             -- deterministic | probabilistic | clerical
    band                VARCHAR(10)  NOT NULL,   -- auto | review | none
    match_weight        DOUBLE PRECISION,
    match_probability   DOUBLE PRECISION,
    runner_up_weight    DOUBLE PRECISION,
    model_version       VARCHAR(40)  NOT NULL,
    records_hash        CHAR(64)     NOT NULL,   -- both records' person fields: a decision stands until they change
    decided_at          TIMESTAMP    NOT NULL,
    decided_by          VARCHAR(250),            -- the reviewer, for clerical decisions
    PRIMARY KEY (source_system, source_record_id)
);
CREATE INDEX ix_crosswalk_band ON crosswalk (source_system, band);

-- Clerical decisions, reused for as long as the two records are unchanged.
CREATE TABLE review_decision (
    source_system       VARCHAR(64)  NOT NULL,
    source_record_id    VARCHAR(100) NOT NULL,
    candidate_record_id VARCHAR(100) NOT NULL,
    records_hash        CHAR(64)     NOT NULL,
    outcome             VARCHAR(10)  NOT NULL,   -- match | no_match
    decided_by          VARCHAR(250) NOT NULL,
    decided_at          TIMESTAMP    NOT NULL,
    PRIMARY KEY (source_system, source_record_id, candidate_record_id, records_hash)
);
