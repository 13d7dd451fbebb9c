-- A delivery is written in the very statement that writes its event (activity_trail), so
-- the deferred foreign key to the event, checked at commit while the company's event-stream
-- lock is held, guarded nothing the code does not already ensure, and cost every write
-- with a subscribed webhook a lookup and a row lock inside that lock. Deleting a company
-- deletes its webhooks, and with them their deliveries.
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_event_id_fkey;
DROP INDEX webhook_deliveries_event;

-- The trail no longer announces queued deliveries itself: it answers whether it queued
-- any, and the event's own announcement says so (one NOTIFY per event, not two).
DROP FUNCTION activity_trail(UUID, UUID, UUID, UUID, TEXT, TEXT, UUID, JSONB, TIMESTAMPTZ);
CREATE FUNCTION activity_trail(
    event_id UUID, company UUID, actor UUID, api_key UUID, verb TEXT, target_type TEXT,
    target UUID, changes JSONB, at TIMESTAMPTZ
) RETURNS boolean LANGUAGE plpgsql AS $$
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
    RETURN queued > 0;
END
$$;
