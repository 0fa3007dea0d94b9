-- The audit trail becomes a hash chain: each event records its position (seq), the hash of the
-- event before it, and its own hash over its canonical JSON (see crosswalk.audit). Events written
-- before this migration have no position and are reported by `crosswalk audit verify` as such.
ALTER TABLE audit_event ADD COLUMN seq BIGINT;
ALTER TABLE audit_event ADD COLUMN prev_hash CHAR(64);
ALTER TABLE audit_event ADD COLUMN event_hash CHAR(64);
CREATE UNIQUE INDEX ux_audit_event_seq ON audit_event (seq);
