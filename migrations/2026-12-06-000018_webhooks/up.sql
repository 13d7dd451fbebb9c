-- Webhooks: endpoints a company's integrations listen on, each acting with one of the
-- company's roles (what it may be told), with its signing secret sealed by SECRETS_KEY.
CREATE TABLE webhooks (
    id UUID PRIMARY KEY,
    company_id UUID NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    role_id UUID NOT NULL REFERENCES roles (id),
    url TEXT NOT NULL CHECK (length(url) <= 2048),
    events TEXT[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 100),
    secret_sealed BYTEA NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    -- Why the server turned the endpoint off (it answered 410 Gone); NULL otherwise.
    disabled_reason TEXT,
    -- An instance is sending to this endpoint until then (or it asked to be left alone
    -- until then with Retry-After): one delivery in flight per endpoint, and a sender that
    -- died frees it when the time passes. The token names the claim, so only its holder
    -- frees it.
    busy_until TIMESTAMPTZ,
    busy_token UUID,
    created_by UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhooks_company ON webhooks (company_id, created_at);
CREATE INDEX webhooks_role ON webhooks (role_id);

-- One event for one endpoint: written by the trigger below in the transaction that
-- records the event, sent by workers, kept (delivered or failed) for inspection.
CREATE TABLE webhook_deliveries (
    id UUID PRIMARY KEY,
    webhook_id UUID NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    -- Checked at commit: the delivery is written just before its event (see activity_trail).
    event_id UUID NOT NULL REFERENCES activity_events (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    verb TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempts INTEGER NOT NULL DEFAULT 0,
    response_status INTEGER,
    last_error TEXT,
    last_attempt_at TIMESTAMPTZ,
    next_attempt_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);
-- What falls due; an endpoint's pending deliveries in event order; an endpoint's list.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (last_attempt_at) WHERE status <> 'PENDING';

-- What follows from an activity event, written by the event's writer in the event's
-- transaction just before the event itself (so outside the company's event-stream lock,
-- which the event's insert takes and holds until commit: writers of one company wait for
-- each other only as long as they must):
-- - its audit entry, with the client details the write helper declared for the
--   transaction (this replaces the trigger of the audit_log migration);
-- - a webhook delivery for every active endpoint of the company subscribed to its verb,
--   its verb's `prefix.*`, or `*`. Whether the endpoint's role may read the event is the
--   server's rule, applied before sending. When any was queued, the commit wakes a sender
--   ('w' on the event channel). A committed change has its deliveries; a rolled-back one
--   none.
DROP TRIGGER activity_events_audit ON activity_events;
DROP FUNCTION audit_activity();
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
