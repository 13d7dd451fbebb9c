-- The trail announces queued deliveries itself again, and deliveries name their event
-- with a foreign key checked at commit.
DROP FUNCTION activity_trail(UUID, UUID, UUID, UUID, TEXT, TEXT, UUID, JSONB, TIMESTAMPTZ);
CREATE FUNCTION activity_trail(
    event_id UUID, company UUID, actor UUID, api_key UUID, verb TEXT, target_type TEXT,
    target UUID, changes JSONB, at TIMESTAMPTZ
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    queued integer;
BEGIN
    INSERT INTO audit_log (id, company_id, actor_id, api_key_id, action, target_type, target_id,
                           changes, ip, user_agent, request_id, created_at)
    VALUES (event_id, company, actor, api_key, verb, target_type, target, changes,
            NULLIF(current_setting('guildhall.client_ip', true), ''),
            NULLIF(current_setting('guildhall.user_agent', true), ''),
            NULLIF(current_setting('guildhall.request_id', true), ''),
            at);
    INSERT INTO webhook_deliveries (id, webhook_id, event_id, verb, next_attempt_at, created_at)
    SELECT gen_random_uuid(), w.id, event_id, verb, at, at
    FROM webhooks w
    WHERE w.company_id = company
      AND w.active
      AND w.events && ARRAY[verb, split_part(verb, '.', 1) || '.*', '*'];
    GET DIAGNOSTICS queued = ROW_COUNT;
    IF queued > 0 THEN
        PERFORM pg_notify('guildhall_events', 'w');
    END IF;
END
$$;

DELETE FROM webhook_deliveries d WHERE NOT EXISTS (SELECT 1 FROM activity_events e WHERE e.id = d.event_id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_event_id_fkey
    FOREIGN KEY (event_id) REFERENCES activity_events (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;
