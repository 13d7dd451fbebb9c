DROP TABLE project_role_grants;
DROP TABLE projects;
