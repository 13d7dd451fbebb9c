DROP TRIGGER registered_documents_standing ON registered_documents;
DELETE FROM registered_documents WHERE company_id IS NULL;
ALTER TABLE registered_documents DROP CONSTRAINT registered_documents_company_id_sha256_key;
ALTER TABLE registered_documents ADD CONSTRAINT registered_documents_company_id_sha256_key
    UNIQUE (company_id, sha256);
ALTER TABLE registered_documents ALTER COLUMN company_id SET NOT NULL;
