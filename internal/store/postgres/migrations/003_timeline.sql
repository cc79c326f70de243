-- Timelines leave the ingest path: one narrow table of entries built after
-- ingest has acknowledged the events, instead of six indexes on events.
-- ekey is a 64-bit hash of the entity's kind and value (see store/sqlite's
-- 003_timeline.sql and sqlstore/timeline.go).
CREATE TABLE timeline (
	ekey BIGINT NOT NULL,
	time BIGINT NOT NULL,
	seq  BIGINT NOT NULL,
	PRIMARY KEY (ekey, time, seq)
);
-- Every event up to this sequence number has its timeline entries. An
-- existing archive starts at 0 and is indexed in the background.
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
