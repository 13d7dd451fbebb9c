-- An event's insert must not wait on its company's row: a transaction that holds the
-- company row (FOR UPDATE) and then waits for the company's event stream lock would
-- deadlock with one holding the stream lock whose foreign-key check waits for that row.
-- Deleting a company now deletes its events and notifications explicitly.
ALTER TABLE activity_events DROP CONSTRAINT activity_events_company_id_fkey;
ALTER TABLE notifications DROP CONSTRAINT notifications_company_id_fkey;
