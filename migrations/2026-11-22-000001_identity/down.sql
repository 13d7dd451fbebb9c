DROP TABLE rate_limit_hits;
DROP TABLE mail_outbox;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE user_tokens;
DROP TABLE users;
