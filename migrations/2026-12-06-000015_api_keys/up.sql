-- API keys: an integration's credential, acting in one company with one of its roles.
-- Only the SHA-256 of the secret is kept; `public_id` (part of the secret) finds the key.
CREATE TABLE api_keys (
    id UUID PRIMARY KEY,
    company_id UUID NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    role_id UUID NOT NULL REFERENCES roles (id),
    name TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    public_id TEXT NOT NULL UNIQUE CHECK (public_id ~ '^[0-9A-Za-z]{12}$'),
    secret_hash BYTEA NOT NULL CHECK (octet_length(secret_hash) = 32),
    last_four TEXT NOT NULL CHECK (char_length(last_four) = 4),
    persisted_only BOOLEAN NOT NULL DEFAULT FALSE,
    created_by UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);

CREATE INDEX api_keys_company ON api_keys (company_id, created_at, id);
CREATE INDEX api_keys_role ON api_keys (role_id);

-- A key's standing (its role, whether it acts) is remembered like members'; a change to it
-- is announced so every instance forgets it. Marking a key used is not such a change.
CREATE TRIGGER api_keys_standing AFTER UPDATE ON api_keys FOR EACH ROW
    WHEN (OLD.role_id IS DISTINCT FROM NEW.role_id
          OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.persisted_only IS DISTINCT FROM NEW.persisted_only)
    EXECUTE FUNCTION announce_standing_change();
CREATE TRIGGER api_keys_deleted_standing AFTER DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION announce_standing_change();

-- What a key did is attributed to the key.
ALTER TABLE activity_events ADD COLUMN api_key_id UUID REFERENCES api_keys (id) ON DELETE SET NULL;
ALTER TABLE data_rows ADD COLUMN created_by_api_key UUID REFERENCES api_keys (id) ON DELETE SET NULL;
ALTER TABLE registered_documents ADD COLUMN created_by_api_key UUID REFERENCES api_keys (id) ON DELETE SET NULL;
CREATE INDEX activity_events_api_key ON activity_events (api_key_id) WHERE api_key_id IS NOT NULL;
CREATE INDEX data_rows_created_by_api_key ON data_rows (created_by_api_key) WHERE created_by_api_key IS NOT NULL;
CREATE INDEX registered_documents_created_by_api_key ON registered_documents (created_by_api_key) WHERE created_by_api_key IS NOT NULL;
