-- An incident's entities live in incident_entities alone. The JSON copy in
-- incidents was decoded, merged and written again whole for every alert
-- that named a new entity: a campaign's incident, naming thousands of
-- vehicles, made each of its alerts cost in proportion to all the others.
-- incident_entities has held every entity of every incident from the first
-- migration on, so nothing is lost.
ALTER TABLE incidents DROP COLUMN entities;
