-- Once a mail is delivered or given up, its link and rendered bodies (which may carry a
-- usable one-time token) are erased; who, what kind, when and the outcome stay. Unsent
-- mail is the only place a raw token may wait, and the constraint holds every writer to it.
ALTER TABLE mail_outbox
    ALTER COLUMN text_body DROP NOT NULL,
    ALTER COLUMN html_body DROP NOT NULL;

UPDATE mail_outbox
SET text_body = NULL, html_body = NULL, action_url = NULL
WHERE sent_at IS NOT NULL OR failed_at IS NOT NULL;

ALTER TABLE mail_outbox ADD CONSTRAINT mail_outbox_erased_once_done CHECK (
    (sent_at IS NULL AND failed_at IS NULL)
    OR (text_body IS NULL AND html_body IS NULL AND action_url IS NULL)
);
