-- Timelines leave the ingest path. The six timeline indexes on events cost
-- more than the row and its idempotency key together; their entries now go
-- to one narrow table, built after ingest has acknowledged the events, in
-- large sorted batches (sqlstore/timeline.go). ekey is a 64-bit hash of the
-- entity's kind and value ("tenant" for the tenant's own timeline);
-- searches compare the real column, so a collision costs a row, never a
-- wrong answer.
CREATE TABLE timeline (
	ekey INTEGER NOT NULL,
	time INTEGER NOT NULL,
	seq  INTEGER NOT NULL,
	PRIMARY KEY (ekey, time, seq)
) WITHOUT ROWID;
-- Every event up to this sequence number has its timeline entries; searches
-- read the later ones from the archive itself. An existing archive starts
-- at 0: the store builds its entries in the background after the upgrade.
INSERT INTO counters (name, value) VALUES ('timeline_seq', 0);
-- Bumped by every deletion of events: the indexer then re-reads the archive
-- instead of trusting the entries it kept in memory.
INSERT INTO counters (name, value) VALUES ('timeline_gen', 0);
DROP INDEX events_tenant_time;
DROP INDEX events_subject;
DROP INDEX events_account;
DROP INDEX events_device;
DROP INDEX events_ip;
DROP INDEX events_client;
