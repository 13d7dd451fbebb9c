DROP TABLE row_changes;
DROP TABLE notifications;
DROP TABLE activity_events;
