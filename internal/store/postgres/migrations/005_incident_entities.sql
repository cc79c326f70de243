-- An incident's entities live in incident_entities alone; see store/sqlite's
-- 005_incident_entities.sql.
ALTER TABLE incidents DROP COLUMN entities;
