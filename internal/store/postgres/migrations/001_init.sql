-- vigil store schema, version 1 (PostgreSQL). Times are Unix nanoseconds.
-- Kept table for table like store/sqlite's: the same SQL runs on both.

CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('event_seq', 0);

CREATE TABLE tenants (
	name    TEXT PRIMARY KEY,
	created BIGINT NOT NULL
);

-- The event archive. seq is assigned from counters.event_seq under that
-- row's lock, so it follows commit order and is never reused.
CREATE TABLE events (
	seq       BIGINT PRIMARY KEY,
	tenant    TEXT NOT NULL,
	source    TEXT NOT NULL,
	id        TEXT NOT NULL,
	type      TEXT NOT NULL,
	time      BIGINT NOT NULL,
	subject   TEXT,
	account   TEXT,
	device    TEXT,
	ip        TEXT,
	client_id TEXT,
	arrived   BIGINT NOT NULL,
	raw       BYTEA NOT NULL
);
CREATE UNIQUE INDEX events_key ON events (tenant, source, id);
CREATE INDEX events_tenant_time ON events (tenant, time, seq);
CREATE INDEX events_subject ON events (subject, time, seq) WHERE subject IS NOT NULL;
CREATE INDEX events_account ON events (account, time, seq) WHERE account IS NOT NULL;
CREATE INDEX events_device ON events (device, time, seq) WHERE device IS NOT NULL;
CREATE INDEX events_ip ON events (ip, time, seq) WHERE ip IS NOT NULL;
CREATE INDEX events_client ON events (client_id, time, seq) WHERE client_id IS NOT NULL;

CREATE TABLE checkpoints (
	name     TEXT PRIMARY KEY,
	seq      BIGINT NOT NULL,
	snapshot BYTEA NOT NULL,
	saved    BIGINT NOT NULL
);

CREATE TABLE alerts (
	pk          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	tenant      TEXT NOT NULL,
	time        BIGINT NOT NULL,
	first_seen  BIGINT NOT NULL,
	last_seen   BIGINT NOT NULL,
	category    TEXT NOT NULL,
	severity    INTEGER NOT NULL,
	detector    TEXT NOT NULL,
	title       TEXT NOT NULL,
	explanation TEXT NOT NULL,
	entities    TEXT NOT NULL,
	evidence    TEXT NOT NULL,
	mappings    TEXT NOT NULL,
	incident    TEXT NOT NULL,
	digest      BYTEA NOT NULL,
	status      TEXT NOT NULL,
	assignee    TEXT NOT NULL,
	created     BIGINT NOT NULL,
	updated     BIGINT NOT NULL
);
CREATE INDEX alerts_time ON alerts (time, pk);
CREATE INDEX alerts_tenant_time ON alerts (tenant, time, pk);

CREATE TABLE alert_entities (
	alert_pk BIGINT NOT NULL,
	kind     TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (alert_pk, kind, value)
);
CREATE INDEX alert_entities_value ON alert_entities (value, kind);

CREATE TABLE alert_evidence (
	alert_pk BIGINT NOT NULL,
	ord      INTEGER NOT NULL,
	source   TEXT NOT NULL,
	id       TEXT NOT NULL,
	PRIMARY KEY (alert_pk, ord)
);

CREATE TABLE incidents (
	pk          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	tenant      TEXT NOT NULL,
	first_seen  BIGINT NOT NULL,
	last_seen   BIGINT NOT NULL,
	severity    INTEGER NOT NULL,
	categories  BIGINT NOT NULL,
	entities    TEXT NOT NULL,
	alert_count BIGINT NOT NULL,
	status      TEXT NOT NULL,
	assignee    TEXT NOT NULL,
	created     BIGINT NOT NULL,
	updated     BIGINT NOT NULL
);
CREATE INDEX incidents_tenant ON incidents (tenant, pk);

CREATE TABLE incident_alerts (
	incident_pk BIGINT NOT NULL,
	alert_id    TEXT NOT NULL,
	PRIMARY KEY (incident_pk, alert_id)
);
CREATE INDEX incident_alerts_alert ON incident_alerts (alert_id);

CREATE TABLE incident_entities (
	incident_pk BIGINT NOT NULL,
	kind        TEXT NOT NULL,
	value       TEXT NOT NULL,
	PRIMARY KEY (incident_pk, kind, value)
);
CREATE INDEX incident_entities_value ON incident_entities (value, kind);

CREATE TABLE incident_history (
	pk          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	incident_pk BIGINT NOT NULL,
	time        BIGINT NOT NULL,
	actor       TEXT NOT NULL,
	action      TEXT NOT NULL,
	old_value   TEXT NOT NULL,
	new_value   TEXT NOT NULL
);
CREATE INDEX incident_history_incident ON incident_history (incident_pk, pk);

CREATE TABLE audit_log (
	seq       BIGINT PRIMARY KEY,
	time      BIGINT NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	tenant    TEXT NOT NULL,
	target    TEXT NOT NULL,
	detail    BYTEA NOT NULL,
	prev_hash BYTEA NOT NULL,
	hash      BYTEA NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant, seq);
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  BIGINT NOT NULL,
	hash BYTEA NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));
-- Defence in depth: the database refuses to update, delete or truncate
-- audit entries. (A superuser can disable triggers: the hash chain is what
-- detects that.)
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE config (
	tenant  TEXT NOT NULL,
	key     TEXT NOT NULL,
	value   BYTEA NOT NULL,
	version BIGINT NOT NULL,
	updated BIGINT NOT NULL,
	PRIMARY KEY (tenant, key)
);
