-- Accounts, sessions, one-time tokens, the mail outbox and rate-limit hits.

CREATE TABLE users (
    id uuid PRIMARY KEY,
    -- lower-cased; NULL once the account is deleted and anonymised
    email text,
    name text NOT NULL,
    -- argon2id PHC string; NULL once the account is deleted
    password_hash text,
    email_verified_at timestamptz,
    phone text,
    bio text,
    avatar_url text,
    preferences jsonb NOT NULL DEFAULT '{}'::jsonb,
    totp_enabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    last_login_at timestamptz,
    deleted_at timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE user_tokens (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    -- SHA-256 of the token; the token itself is only ever in the mail
    token_hash bytea NOT NULL UNIQUE,
    new_email text,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX user_tokens_open_idx ON user_tokens (user_id, purpose) WHERE used_at IS NULL;

CREATE TABLE sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    last_used_at timestamptz,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revoked_reason text,
    user_agent text,
    ip text
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE mail_outbox (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    recipient text NOT NULL,
    subject text NOT NULL,
    text_body text NOT NULL,
    html_body text NOT NULL,
    -- the link the mail asks the reader to open, logged when no SMTP server is configured
    action_url text,
    created_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    sent_at timestamptz,
    failed_at timestamptz,
    last_error text
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

CREATE TABLE rate_limit_hits (
    id bigserial PRIMARY KEY,
    bucket text NOT NULL,
    key text NOT NULL,
    hit_at timestamptz NOT NULL
);
CREATE INDEX rate_limit_hits_lookup_idx ON rate_limit_hits (bucket, key, hit_at);
