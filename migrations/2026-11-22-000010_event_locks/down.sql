DELETE FROM activity_events e WHERE NOT EXISTS (SELECT 1 FROM companies c WHERE c.id = e.company_id);
DELETE FROM notifications n
    WHERE n.company_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM companies c WHERE c.id = n.company_id);
ALTER TABLE activity_events ADD CONSTRAINT activity_events_company_id_fkey
    FOREIGN KEY (company_id) REFERENCES companies (id) ON DELETE CASCADE;
ALTER TABLE notifications ADD CONSTRAINT notifications_company_id_fkey
    FOREIGN KEY (company_id) REFERENCES companies (id) ON DELETE CASCADE;
