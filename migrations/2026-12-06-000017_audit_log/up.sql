-- The audit log: who did what, to what, from where. Entries name people, keys and
-- companies without foreign keys: a deleted company's entries stay until retention ends
-- them, and a deleted person's are pseudonymised (actor_deleted, no address or device).
CREATE TABLE audit_log (
    id UUID PRIMARY KEY,
    company_id UUID,
    actor_id UUID,
    actor_deleted BOOLEAN NOT NULL DEFAULT FALSE,
    api_key_id UUID,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id UUID,
    changes JSONB,
    ip TEXT,
    user_agent TEXT,
    request_id TEXT,
    created_at TIMESTAMPTZ NOT NULL
);

-- A company's log newest first, filtered by actor, action or target type; a person's
-- security events; the retention purge.
CREATE INDEX audit_log_company ON audit_log (company_id, created_at DESC, id DESC);
CREATE INDEX audit_log_company_actor ON audit_log (company_id, actor_id, created_at DESC, id DESC);
CREATE INDEX audit_log_company_action ON audit_log (company_id, action, created_at DESC, id DESC);
CREATE INDEX audit_log_company_target ON audit_log (company_id, target_type, created_at DESC, id DESC);
CREATE INDEX audit_log_person ON audit_log (actor_id, created_at DESC, id DESC) WHERE company_id IS NULL;
CREATE INDEX audit_log_created ON audit_log (created_at);

-- Append-only: nothing changes or removes an entry except the retention purge and the
-- pseudonymisation of a deleted account, which declare themselves for their transaction.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('guildhall.audit_maintenance', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'the audit log is append-only';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Every activity event is a change someone made: its entry is written with it, in the
-- same transaction, with the client details the write helper set for that transaction.
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
