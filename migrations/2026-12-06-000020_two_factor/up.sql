-- Two-factor sign-in (`users.totp_enabled` says whether it is on): the TOTP secret sealed
-- with SECRETS_KEY (bound to its user's id), a new one waiting for its first code, and the
-- last time step a code was accepted for (no code is accepted twice).
CREATE TABLE user_totp (
    user_id UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed BYTEA,
    pending_sealed BYTEA,
    last_step BIGINT,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Single-use recovery codes, stored as SHA-256 hashes (each holds 50 random bits).
CREATE TABLE recovery_codes (
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    used_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);
