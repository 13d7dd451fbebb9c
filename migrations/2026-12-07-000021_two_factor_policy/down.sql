DELETE FROM user_tokens WHERE purpose = 'recover_two_factor';
ALTER TABLE user_tokens DROP CONSTRAINT user_tokens_purpose_check;
ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_purpose_check
    CHECK (purpose IN ('verify_email', 'reset_password', 'change_email'));
DROP TRIGGER users_two_factor_standing ON users;
DROP TRIGGER companies_two_factor_standing ON companies;
ALTER TABLE companies DROP COLUMN require_two_factor;
