DROP FUNCTION activity_trail(UUID, UUID, UUID, UUID, TEXT, TEXT, UUID, JSONB, TIMESTAMPTZ);
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
-- The audit entry of each activity event is written by a trigger again.
CREATE FUNCTION audit_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log (id, company_id, actor_id, api_key_id, action, target_type, target_id,
                           changes, ip, user_agent, request_id, created_at)
    VALUES (NEW.id, NEW.company_id, NEW.actor_id, NEW.api_key_id, NEW.verb, NEW.target_type,
            NEW.target_id, NEW.data,
            NULLIF(current_setting('guildhall.client_ip', true), ''),
            NULLIF(current_setting('guildhall.user_agent', true), ''),
            NULLIF(current_setting('guildhall.request_id', true), ''),
            NEW.created_at);
    RETURN NULL;
END
$$;
CREATE TRIGGER activity_events_audit AFTER INSERT ON activity_events
    FOR EACH ROW EXECUTE FUNCTION audit_activity();
