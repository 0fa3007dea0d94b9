-- The person model each matching feed links with (crosswalk.matching.model_store): trained once, saved with its
-- version and its training data's hash, reused by every later batch; replaced only by an audited retraining.
-- The crosswalk's cluster_id (0004) holds each source record's stable person id (crosswalk.matching.person_ids).
CREATE TABLE match_model (
    source_system   VARCHAR(64)  NOT NULL,   -- the inbound feed whose batches the model links
    version         VARCHAR(40)  NOT NULL,   -- link-v1:<hash of the settings and parameters>
    training_hash   CHAR(64)     NOT NULL,   -- sha256 over the training records' person-field hashes
    model           TEXT         NOT NULL,   -- the saved model's JSON (Splink settings with m, u and the prior)
    trained_at      TIMESTAMP    NOT NULL,
    trained_by      VARCHAR(250) NOT NULL,   -- who retrained it, or the batch whose first match trained it
    active          BOOLEAN      NOT NULL,   -- the one model in use for the feed
    matched_index   VARCHAR(80),             -- the index batch the crosswalk was last brought up to date
                                             -- against with this model (null: not yet)
    PRIMARY KEY (source_system, version)
);
