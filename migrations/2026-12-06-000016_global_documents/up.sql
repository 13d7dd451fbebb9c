-- Documents registered for every company (PERSISTED_QUERIES_MANIFEST at startup) have no
-- company; a hash is registered at most once per company and once globally.
ALTER TABLE registered_documents ALTER COLUMN company_id DROP NOT NULL;
ALTER TABLE registered_documents DROP CONSTRAINT registered_documents_company_id_sha256_key;
ALTER TABLE registered_documents ADD CONSTRAINT registered_documents_company_id_sha256_key
    UNIQUE NULLS NOT DISTINCT (company_id, sha256);
