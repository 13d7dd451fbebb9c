-- Erased bodies cannot come back; they return as empty texts.
ALTER TABLE mail_outbox DROP CONSTRAINT mail_outbox_erased_once_done;

UPDATE mail_outbox SET text_body = '' WHERE text_body IS NULL;
UPDATE mail_outbox SET html_body = '' WHERE html_body IS NULL;

ALTER TABLE mail_outbox
    ALTER COLUMN text_body SET NOT NULL,
    ALTER COLUMN html_body SET NOT NULL;
