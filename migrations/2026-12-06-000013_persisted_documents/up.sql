-- Documents clients send by their SHA-256 hash (automatic persisted queries): the text,
-- keyed by the lowercase hex hash of it, shared by every instance. A bounded cache: the
-- least recently used beyond PERSISTED_QUERIES_MAX are evicted.
CREATE TABLE persisted_documents (
    sha256 TEXT PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX persisted_documents_last_used ON persisted_documents (last_used_at DESC);
