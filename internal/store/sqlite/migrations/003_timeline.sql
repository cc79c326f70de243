-- Timelines leave the ingest path. The six timeline indexes on events cost
-- more than the row and its idempotency key together; their entries now go
-- to a narrow table in its own file (timeline.db, see store/sqlite), written
-- after ingest has acknowledged the events, in large sorted batches, beside
-- the events' writer. An existing archive is indexed there in the
-- background after the upgrade; searches are complete meanwhile.
DROP INDEX events_tenant_time;
DROP INDEX events_subject;
DROP INDEX events_account;
DROP INDEX events_device;
DROP INDEX events_ip;
DROP INDEX events_client;
-- Timeline entries of deleted events, recorded with the deletion and
-- removed from the timeline by its indexer (sqlstore/timeline.go).
CREATE TABLE timeline_deleted (
	seq  INTEGER NOT NULL,
	ekey INTEGER NOT NULL,
	time INTEGER NOT NULL,
	PRIMARY KEY (seq, ekey, time)
) WITHOUT ROWID;
