-- Documents a company registered in advance (trusted documents): validated when
-- registered, run by their SHA-256 hash, never evicted.
CREATE TABLE registered_documents (
    id UUID PRIMARY KEY,
    company_id UUID NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    body TEXT NOT NULL,
    name TEXT,
    operation_type TEXT NOT NULL CHECK (operation_type IN ('query', 'mutation', 'subscription')),
    created_by UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    UNIQUE (company_id, sha256)
);

CREATE INDEX registered_documents_sha256 ON registered_documents (sha256);
