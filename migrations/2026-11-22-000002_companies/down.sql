DROP TABLE invitations;
ALTER TABLE users DROP COLUMN active_company_id;
DROP TABLE memberships;
DROP TABLE roles;
DROP TABLE companies;
