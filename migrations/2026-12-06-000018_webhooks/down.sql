DROP TRIGGER activity_events_webhooks ON activity_events;
DROP FUNCTION webhook_outbox();
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
