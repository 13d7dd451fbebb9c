DROP TABLE registered_documents;
