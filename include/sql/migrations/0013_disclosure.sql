-- The per-person disclosure log (crosswalk.disclosures): for every delivery and portal publication that carries
-- record-level data, the disclosure itself (who received what, when, under which agreement, version and level,
-- which fields), and one row per record with keyed hashes of that person's identifiers (HMAC-SHA256 under our own
-- disclosure key, cut to 128 bits): never an identifier itself. Answers "where has this person's data gone?"
-- (UK GDPR Article 15(1)(c)) from the stores alone. Kept as long as the audit trail (audit.retention_days).
CREATE TABLE disclosure (
    disclosure_no     BIGINT       NOT NULL PRIMARY KEY, -- 60 bits of sha256(disclosure_id): small in every row
    disclosure_id     VARCHAR(120) NOT NULL UNIQUE,      -- a delivery's file sha256, or a publication's id
    kind              VARCHAR(20)  NOT NULL,             -- delivery | portal
    recipient         VARCHAR(64)  NOT NULL,             -- the partner's code
    feed_id           VARCHAR(64)  NOT NULL,
    batch_id          VARCHAR(80)  NOT NULL,             -- the staged batch the records came from
    agreement_id      VARCHAR(64)  NOT NULL,
    agreement_version INTEGER      NOT NULL,
    level             INTEGER      NOT NULL,
    fields            TEXT         NOT NULL,             -- JSON list of the fields sent, in order
    file_name         VARCHAR(250) NOT NULL,             -- the delivered file, or the portal table's version
    disclosed_at      TIMESTAMP    NOT NULL,
    records           INTEGER      NOT NULL
);
CREATE INDEX disclosure_by_time ON disclosure (disclosed_at);

CREATE TABLE disclosure_person (
    disclosure_no BIGINT       NOT NULL,  -- the disclosure (disclosure.disclosure_no)
    chi_hash      CHAR(32),               -- the record's CHI (its own, else the one matching linked it to), keyed
    nhs_hash      CHAR(32),               -- its NHS number, keyed
    source_hash   CHAR(32),               -- its id in the sender's system, keyed
    carried       VARCHAR(520) NOT NULL   -- hex bitmask: bit i set when the i-th field of disclosure.fields held a
                                          -- value for this record
);
-- Each identifier is looked up by its hash; most records lack one or other, so only those with one are indexed.
CREATE INDEX disclosure_person_by_chi ON disclosure_person (chi_hash) WHERE chi_hash IS NOT NULL;
CREATE INDEX disclosure_person_by_nhs ON disclosure_person (nhs_hash) WHERE nhs_hash IS NOT NULL;
CREATE INDEX disclosure_person_by_source ON disclosure_person (source_hash) WHERE source_hash IS NOT NULL;
CREATE INDEX disclosure_person_of ON disclosure_person (disclosure_no);
