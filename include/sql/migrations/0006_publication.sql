-- Published versions: one row per version of a publication (a portal table or an open-data
-- dataset). A portal version is a table of its own (pub_<name>__v<N>); readers query the view
-- pub_<name>, which a publish or a rollback repoints in one transaction, so they see the old
-- version or the new one, never a mix and never nothing.
CREATE TABLE publication (
    publication_id    VARCHAR(120) PRIMARY KEY,   -- <name>:v<version>
    name              VARCHAR(64)  NOT NULL,
    version           INTEGER      NOT NULL,
    kind              VARCHAR(20)  NOT NULL,      -- portal | open_data
    table_name        VARCHAR(120),               -- portal: the version's table
    status            VARCHAR(20)  NOT NULL,      -- live | superseded | rolled_back | withdrawn | purged
    content_sha256    CHAR(64)     NOT NULL,      -- of the rows as published: a rerun with the same content is a no-op
    source_batches    TEXT         NOT NULL,      -- JSON list of batch ids
    rows_out          BIGINT       NOT NULL,
    fields_published  TEXT         NOT NULL,      -- JSON list of column names
    agreement_id      VARCHAR(64)  NOT NULL,
    agreement_version INTEGER      NOT NULL,
    level             INTEGER      NOT NULL,
    recipient         VARCHAR(64)  NOT NULL,
    detail            TEXT,                       -- JSON: counts only (rows without a CHI, suppressed cells, ...)
    dag_id            VARCHAR(250),
    run_id            VARCHAR(250),
    created_at        TIMESTAMP    NOT NULL,
    updated_at        TIMESTAMP    NOT NULL,
    CONSTRAINT uq_publication_version UNIQUE (name, version)
);
CREATE INDEX ix_publication_name_status ON publication (name, status);
