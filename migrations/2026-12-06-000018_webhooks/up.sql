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
    event_seq BIGINT NOT NULL REFERENCES activity_events (seq) ON DELETE CASCADE,
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
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, event_seq) WHERE status = 'PENDING';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_seq);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (last_attempt_at) WHERE status <> 'PENDING';

-- Every event an active endpoint subscribed to (its verb, its verb's `prefix.*`, or `*`)
-- becomes a delivery in the event's own transaction: a committed change has its
-- deliveries, a rolled-back one none. Whether the endpoint's role may read the event is
-- the server's rule, applied before sending (deliveries it may not read are dropped).
-- When it queued any, the commit wakes a sender on some instance ('w' on the event
-- channel). A pending delivery of an endpoint that is off has no next attempt.
CREATE FUNCTION webhook_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    queued integer;
BEGIN
    INSERT INTO webhook_deliveries (id, webhook_id, event_seq, verb, next_attempt_at, created_at)
    SELECT gen_random_uuid(), w.id, NEW.seq, NEW.verb, NEW.created_at, NEW.created_at
    FROM webhooks w
    WHERE w.company_id = NEW.company_id
      AND w.active
      AND w.events && ARRAY[NEW.verb, split_part(NEW.verb, '.', 1) || '.*', '*'];
    GET DIAGNOSTICS queued = ROW_COUNT;
    IF queued > 0 THEN
        PERFORM pg_notify('guildhall_events', 'w');
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER activity_events_webhooks AFTER INSERT ON activity_events
    FOR EACH ROW EXECUTE FUNCTION webhook_outbox();
