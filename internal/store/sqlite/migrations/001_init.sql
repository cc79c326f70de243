-- vigil store schema, version 1 (SQLite). Times are Unix nanoseconds.

-- Counters handed out inside write transactions (event sequence numbers).
CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('event_seq', 0);

-- Every tenant that ever had an event archived.
CREATE TABLE tenants (
	name    TEXT PRIMARY KEY,
	created INTEGER NOT NULL
) WITHOUT ROWID;

-- The event archive. seq is assigned from counters.event_seq, never reused.
CREATE TABLE events (
	seq       INTEGER PRIMARY KEY,
	tenant    TEXT NOT NULL,
	source    TEXT NOT NULL,
	id        TEXT NOT NULL,
	type      TEXT NOT NULL,
	time      INTEGER NOT NULL,
	subject   TEXT,
	account   TEXT,
	device    TEXT,
	ip        TEXT,
	client_id TEXT,
	arrived   INTEGER NOT NULL,
	raw       BLOB NOT NULL
);
-- The idempotency key.
CREATE UNIQUE INDEX events_key ON events (tenant, source, id);
-- Retention and searches without an entity.
CREATE INDEX events_tenant_time ON events (tenant, time, seq);
-- Timelines. Tenant is filtered on the rows: entities rarely span tenants.
CREATE INDEX events_subject ON events (subject, time, seq) WHERE subject IS NOT NULL;
CREATE INDEX events_account ON events (account, time, seq) WHERE account IS NOT NULL;
CREATE INDEX events_device ON events (device, time, seq) WHERE device IS NOT NULL;
CREATE INDEX events_ip ON events (ip, time, seq) WHERE ip IS NOT NULL;
CREATE INDEX events_client ON events (client_id, time, seq) WHERE client_id IS NOT NULL;

CREATE TABLE checkpoints (
	name     TEXT PRIMARY KEY,
	seq      INTEGER NOT NULL,
	snapshot BLOB NOT NULL,
	saved    INTEGER NOT NULL
);

CREATE TABLE alerts (
	pk          INTEGER PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	tenant      TEXT NOT NULL,
	time        INTEGER NOT NULL,
	first_seen  INTEGER NOT NULL,
	last_seen   INTEGER NOT NULL,
	category    TEXT NOT NULL,
	severity    INTEGER NOT NULL,
	detector    TEXT NOT NULL,
	title       TEXT NOT NULL,
	explanation TEXT NOT NULL,
	entities    TEXT NOT NULL, -- JSON, as in the alert contract
	evidence    TEXT NOT NULL, -- JSON
	mappings    TEXT NOT NULL, -- JSON
	incident    TEXT NOT NULL,
	digest      BLOB NOT NULL, -- SHA-256 of the alert's JSON: re-deliveries change nothing
	status      TEXT NOT NULL,
	assignee    TEXT NOT NULL,
	created     INTEGER NOT NULL,
	updated     INTEGER NOT NULL
);
CREATE INDEX alerts_time ON alerts (time, pk);
CREATE INDEX alerts_tenant_time ON alerts (tenant, time, pk);

CREATE TABLE alert_entities (
	alert_pk INTEGER NOT NULL,
	kind     TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (alert_pk, kind, value)
) WITHOUT ROWID;
CREATE INDEX alert_entities_value ON alert_entities (value, kind);

CREATE TABLE alert_evidence (
	alert_pk INTEGER NOT NULL,
	ord      INTEGER NOT NULL,
	source   TEXT NOT NULL,
	id       TEXT NOT NULL,
	PRIMARY KEY (alert_pk, ord)
) WITHOUT ROWID;

CREATE TABLE incidents (
	pk          INTEGER PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	tenant      TEXT NOT NULL,
	first_seen  INTEGER NOT NULL,
	last_seen   INTEGER NOT NULL,
	severity    INTEGER NOT NULL,
	categories  INTEGER NOT NULL, -- bit set: bit c for category c
	entities    TEXT NOT NULL,    -- JSON [{kind, value}], sorted
	alert_count INTEGER NOT NULL,
	status      TEXT NOT NULL,
	assignee    TEXT NOT NULL,
	created     INTEGER NOT NULL,
	updated     INTEGER NOT NULL
);
CREATE INDEX incidents_tenant ON incidents (tenant, pk);

CREATE TABLE incident_alerts (
	incident_pk INTEGER NOT NULL,
	alert_id    TEXT NOT NULL,
	PRIMARY KEY (incident_pk, alert_id)
) WITHOUT ROWID;
CREATE INDEX incident_alerts_alert ON incident_alerts (alert_id);

CREATE TABLE incident_entities (
	incident_pk INTEGER NOT NULL,
	kind        TEXT NOT NULL,
	value       TEXT NOT NULL,
	PRIMARY KEY (incident_pk, kind, value)
) WITHOUT ROWID;
CREATE INDEX incident_entities_value ON incident_entities (value, kind);

CREATE TABLE incident_history (
	pk          INTEGER PRIMARY KEY,
	incident_pk INTEGER NOT NULL,
	time        INTEGER NOT NULL,
	actor       TEXT NOT NULL,
	action      TEXT NOT NULL,
	old_value   TEXT NOT NULL,
	new_value   TEXT NOT NULL
);
CREATE INDEX incident_history_incident ON incident_history (incident_pk, pk);

-- The audit log: append-only, hash-chained (store.AuditHash).
CREATE TABLE audit_log (
	seq       INTEGER PRIMARY KEY,
	time      INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	tenant    TEXT NOT NULL,
	target    TEXT NOT NULL,
	detail    BLOB NOT NULL,
	prev_hash BLOB NOT NULL,
	hash      BLOB NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant, seq);
-- The chain head: the last entry's number and hash. Appends take it first.
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  INTEGER NOT NULL,
	hash BLOB NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));
-- Defence in depth: the store never updates or deletes an entry, and the
-- database refuses to. (Whoever can drop a trigger can edit rows: the hash
-- chain is what detects that.)
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TABLE config (
	tenant  TEXT NOT NULL,
	key     TEXT NOT NULL,
	value   BLOB NOT NULL,
	version INTEGER NOT NULL,
	updated INTEGER NOT NULL,
	PRIMARY KEY (tenant, key)
);
