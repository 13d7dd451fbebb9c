-- Documents registered for every company (PERSISTED_QUERIES_MANIFEST at startup) have no
-- company; a hash is registered at most once per company and once globally.
ALTER TABLE registered_documents ALTER COLUMN company_id DROP NOT NULL;
ALTER TABLE registered_documents DROP CONSTRAINT registered_documents_company_id_sha256_key;
ALTER TABLE registered_documents ADD CONSTRAINT registered_documents_company_id_sha256_key
    UNIQUE NULLS NOT DISTINCT (company_id, sha256);

-- Instances remember which registered documents a persisted-only caller may run; removing
-- one is announced like a standing change, so every instance forgets.
CREATE TRIGGER registered_documents_standing AFTER DELETE ON registered_documents
    FOR EACH STATEMENT EXECUTE FUNCTION announce_standing_change();
