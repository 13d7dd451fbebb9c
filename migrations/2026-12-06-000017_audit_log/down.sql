DROP TRIGGER activity_events_audit ON activity_events;
DROP FUNCTION audit_activity();
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
