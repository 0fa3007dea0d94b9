-- Row rules (crosswalk.config.models.population): whose records an agreement lets leave.
-- A governed list of people (objections, restricted records), one batch per drop of the whole list.
-- Columns follow include/schemas/person_list.json.
CREATE TABLE stg_person_list (
    batch_id            VARCHAR(80)  NOT NULL,
    row_number          BIGINT       NOT NULL,
    chi_number          VARCHAR(10),
    nhs_number          VARCHAR(10),
    source_id           VARCHAR(100),
    recorded_on         DATE         NOT NULL,
    PRIMARY KEY (batch_id, row_number)
);
-- Each disclosure says which rule admitted its people and how many were withheld, by reason (counts only).
ALTER TABLE disclosure ADD COLUMN population TEXT;   -- JSON: the recipient's population rule, as applied
ALTER TABLE disclosure ADD COLUMN withheld TEXT;     -- JSON: people withheld, by reason code
ALTER TABLE disclosure_person ADD COLUMN admitted VARCHAR(20);  -- why this record was included (all | matched | own_record)
-- What each identifiers_back return said of each record, so the next says what changed (a hash, no identifier).
CREATE TABLE identifier_return (
    feed_id          VARCHAR(64)  NOT NULL,
    delivery_id      VARCHAR(160) NOT NULL,
    source_record_id VARCHAR(100) NOT NULL,
    state_hash       CHAR(64)     NOT NULL,  -- sha256 of the CHI, band and person id returned
    had_chi          INTEGER      NOT NULL,  -- 1 when a CHI was returned (a later return without one withdraws it)
    PRIMARY KEY (feed_id, delivery_id, source_record_id)
);
