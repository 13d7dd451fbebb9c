DROP TABLE recovery_codes;
DROP TABLE user_totp;
UPDATE users SET totp_enabled = FALSE;
