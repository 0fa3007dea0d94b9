-- Append-only: nothing may change or remove an audit event once written. (Retention purges run
-- `crosswalk audit purge`, which lifts this inside its own transaction and records what it removed.)
CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
BEGIN
    SELECT RAISE(ABORT, 'audit_event is append-only: events cannot be changed');
END;
CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
BEGIN
    SELECT RAISE(ABORT, 'audit_event is append-only: events cannot be deleted');
END;
