-- A company may require its members to sign in with a second factor: a member without one
-- keeps the membership but reaches none of the company's data until they turn it on.
ALTER TABLE companies ADD COLUMN require_two_factor BOOLEAN NOT NULL DEFAULT false;

-- Both halves of that rule change what a member may reach, so instances forget the
-- standing they remember when either changes (as for memberships and roles).
CREATE TRIGGER companies_two_factor_standing AFTER UPDATE OF require_two_factor ON companies
    FOR EACH STATEMENT EXECUTE FUNCTION announce_standing_change();
CREATE TRIGGER users_two_factor_standing AFTER UPDATE OF totp_enabled ON users
    FOR EACH STATEMENT EXECUTE FUNCTION announce_standing_change();

-- Recovery of a lost second factor by mail, usable only after a waiting period.
ALTER TABLE user_tokens DROP CONSTRAINT user_tokens_purpose_check;
ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_purpose_check
    CHECK (purpose IN ('verify_email', 'reset_password', 'change_email', 'recover_two_factor'));
