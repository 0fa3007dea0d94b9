-- What a drop held once decrypted: a drop whose plaintext equals a staged batch's is skipped as its duplicate.
ALTER TABLE batch ADD COLUMN plaintext_sha256 CHAR(64);
CREATE INDEX ix_batch_feed_plaintext ON batch (feed_id, plaintext_sha256);

-- Drops that reached a terminal state, each keyed by its three files as listed (names, sizes, times).
-- Discovery leaves out a drop found here in one query, without reading its manifest; a drop with any of
-- its files changed has a new key and is examined again.
CREATE TABLE drop_seen (
    drop_key    CHAR(64)     PRIMARY KEY,
    feed_id     VARCHAR(64)  NOT NULL,
    batch_id    VARCHAR(80)  NOT NULL,
    outcome     VARCHAR(20)  NOT NULL,   -- staged | quarantined | skipped
    seen_at     TIMESTAMP    NOT NULL
);
CREATE INDEX ix_drop_seen_feed ON drop_seen (feed_id);
