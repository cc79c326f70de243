-- Timelines leave the ingest path: one narrow table of entries written after
-- ingest has acknowledged the events, in large sorted batches, instead of six
-- indexes on events (sqlstore/timeline.go). ekey is a 64-bit hash of the
-- entity's kind and value; searches compare the real columns.
CREATE TABLE timeline (
	ekey BIGINT NOT NULL,
	time BIGINT NOT NULL,
	seq  BIGINT NOT NULL,
	PRIMARY KEY (ekey, time, seq)
);
-- Every event up to 'seq' has its entries; searches read the later ones
-- from the archive itself. An existing archive starts at 0 and is indexed
-- in the background.
CREATE TABLE timeline_mark (
	name  TEXT PRIMARY KEY,
	value BIGINT NOT NULL
);
INSERT INTO timeline_mark (name, value) VALUES ('seq', 0);
-- Timeline entries of deleted events, recorded with the deletion and
-- removed from the timeline by its indexer.
CREATE TABLE timeline_deleted (
	seq  BIGINT NOT NULL,
	ekey BIGINT NOT NULL,
	time BIGINT NOT NULL,
	PRIMARY KEY (seq, ekey, time)
);
DROP INDEX events_tenant_time;
DROP INDEX events_subject;
DROP INDEX events_account;
DROP INDEX events_device;
DROP INDEX events_ip;
DROP INDEX events_client;
