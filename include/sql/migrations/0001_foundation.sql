-- Foundation: batch ledger, delivery ledger, audit events, and one staging table per extract type.
-- Portable SQL: runs unchanged on PostgreSQL (production, CI) and SQLite (the embedded demo).

-- One row per partner drop we have seen, keyed by feed and the sha256 of its manifest. The
-- manifest carries the data file's sha256, so the same drop seen again is recognised and a
-- changed file under an old name is a new batch. File hash and size are NULL when the manifest
-- itself was unreadable.
CREATE TABLE batch (
    batch_id        VARCHAR(80)  PRIMARY KEY,
    feed_id         VARCHAR(64)  NOT NULL,
    partner         VARCHAR(64)  NOT NULL,
    manifest_sha256 CHAR(64)     NOT NULL,
    file_name       VARCHAR(255) NOT NULL,
    file_sha256     CHAR(64),
    file_size       BIGINT,
    schema_id       VARCHAR(64)  NOT NULL,
    rows_in         BIGINT,
    rows_staged     BIGINT,
    status          VARCHAR(20)  NOT NULL,   -- received | staged | quarantined
    reason          TEXT,
    dag_id          VARCHAR(250),
    run_id          VARCHAR(250),
    created_at      TIMESTAMP    NOT NULL,
    updated_at      TIMESTAMP    NOT NULL,
    CONSTRAINT uq_batch_feed_manifest UNIQUE (feed_id, manifest_sha256)
);

-- One row per extract we deliver: an outbound feed and the staged batch it was built from.
CREATE TABLE delivery (
    delivery_id     VARCHAR(160) PRIMARY KEY,
    feed_id         VARCHAR(64)  NOT NULL,
    partner         VARCHAR(64)  NOT NULL,
    source_batch_id VARCHAR(80)  NOT NULL REFERENCES batch (batch_id),
    agreement_id    VARCHAR(64)  NOT NULL,
    agreement_version INTEGER    NOT NULL,
    level           INTEGER      NOT NULL,
    file_name       VARCHAR(255) NOT NULL,
    file_sha256     CHAR(64),
    file_size       BIGINT,
    rows_out        BIGINT,
    fields_sent     TEXT,                    -- JSON list of column names
    status          VARCHAR(20)  NOT NULL,   -- building | delivered
    dag_id          VARCHAR(250),
    run_id          VARCHAR(250),
    created_at      TIMESTAMP    NOT NULL,
    updated_at      TIMESTAMP    NOT NULL,
    CONSTRAINT uq_delivery_feed_batch UNIQUE (feed_id, source_batch_id)
);

-- Structured evidence for IG: who, what, when, which file and how many rows. Never a value.
CREATE TABLE audit_event (
    event_id        CHAR(32)     PRIMARY KEY,
    event_time      TIMESTAMP    NOT NULL,
    event           VARCHAR(64)  NOT NULL,
    outcome         VARCHAR(20)  NOT NULL,   -- started | succeeded | failed | skipped | quarantined
    dag_id          VARCHAR(250),
    run_id          VARCHAR(250),
    task_id         VARCHAR(250),
    run_type        VARCHAR(40),
    triggered_by    VARCHAR(250),
    feed_id         VARCHAR(64),
    partner         VARCHAR(64),
    batch_id        VARCHAR(80),
    file_name       VARCHAR(255),
    file_sha256     CHAR(64),
    file_size       BIGINT,
    rows_in         BIGINT,
    rows_out        BIGINT,
    reason          TEXT,
    detail          TEXT                     -- JSON object of names, counts and hashes
);
CREATE INDEX ix_audit_event_time ON audit_event (event_time);
CREATE INDEX ix_audit_event_batch ON audit_event (batch_id);

-- Staged rows, keyed by batch: reloading a batch replaces its rows, never duplicates them.
-- Columns follow include/schemas/social_care_client.json (checked by a test).
CREATE TABLE stg_social_care_client (
    batch_id            VARCHAR(80)  NOT NULL REFERENCES batch (batch_id),
    row_number          BIGINT       NOT NULL,
    source_id           VARCHAR(40)  NOT NULL,
    chi_number          VARCHAR(10),
    nhs_number          VARCHAR(10),
    forename            VARCHAR(100) NOT NULL,
    surname             VARCHAR(100) NOT NULL,
    date_of_birth       DATE         NOT NULL,
    sex                 VARCHAR(1)   NOT NULL,
    postcode            VARCHAR(8),
    address_line1       VARCHAR(200),
    allocated_worker    VARCHAR(100),
    allocated_team      VARCHAR(100),
    care_package_type   VARCHAR(60),
    care_package_start  DATE,
    care_package_end    DATE,
    weekly_hours        NUMERIC(6, 2),
    PRIMARY KEY (batch_id, row_number)
);

-- Columns follow include/schemas/health_board_index.json (checked by a test).
CREATE TABLE stg_health_board_index (
    batch_id            VARCHAR(80)  NOT NULL REFERENCES batch (batch_id),
    row_number          BIGINT       NOT NULL,
    chi_number          VARCHAR(10)  NOT NULL,
    forename            VARCHAR(100) NOT NULL,
    surname             VARCHAR(100) NOT NULL,
    date_of_birth       DATE         NOT NULL,
    sex                 VARCHAR(1)   NOT NULL,
    postcode            VARCHAR(8),
    gp_practice_code    VARCHAR(10),
    PRIMARY KEY (batch_id, row_number)
);
