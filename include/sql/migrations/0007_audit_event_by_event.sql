-- The graduation gate counts a feed's successful manual runs on every run: by event and feed through an
-- index, so its cost follows that feed's runs, not the whole audit trail's length.
CREATE INDEX ix_audit_event_event_feed ON audit_event (event, feed_id);
