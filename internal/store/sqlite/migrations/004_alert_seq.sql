-- Delivery sequence numbers: sinks follow the alerts in this order
-- (AlertsAfter) and keep their place in the config table, so an alert
-- waits in the store, not in memory, until every sink has handled it.
-- An alert is numbered when it is first stored, from counters.alert_seq
-- inside the write transaction: numbers follow commit order and are never
-- reused after erasure (a rowid or MAX(seq) + 1 would hand out the number
-- of an erased newest alert again). The unique index refuses a duplicate.
-- Alerts stored before this migration are numbered in the order they were
-- created. seq stays NULL-able only because SQLite cannot add a NOT NULL
-- column without a default: the store always sets it.
ALTER TABLE alerts ADD COLUMN seq INTEGER;
UPDATE alerts SET seq = n.rn
FROM (SELECT pk, ROW_NUMBER() OVER (ORDER BY created, pk) AS rn FROM alerts) AS n
WHERE alerts.pk = n.pk;
INSERT INTO counters (name, value) SELECT 'alert_seq', COUNT(*) FROM alerts;
CREATE UNIQUE INDEX alerts_seq ON alerts (seq);
