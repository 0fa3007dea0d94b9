-- What a drop's files held when it reached its outcome: the sha256 over its manifest's, its signature's and its
-- data file's sha256 and size. A drop listed anew (a touched file: new times, the same bytes) whose content is
-- already here is not examined again; only changed bytes are.
ALTER TABLE drop_seen ADD COLUMN content_sha256 CHAR(64);
CREATE INDEX ix_drop_seen_batch ON drop_seen (batch_id);
