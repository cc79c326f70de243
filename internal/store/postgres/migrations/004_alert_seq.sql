-- Delivery sequence numbers: sinks follow the alerts in this order
-- (AlertsAfter). Numbered from counters.alert_seq under that row's lock, so
-- they follow commit order across nodes and are never reused after
-- erasure. Alerts stored before this migration are numbered in the order
-- they were created. See store/sqlite's 004_alert_seq.sql.
ALTER TABLE alerts ADD COLUMN seq BIGINT;
UPDATE alerts SET seq = n.rn
FROM (SELECT pk, ROW_NUMBER() OVER (ORDER BY created, pk) AS rn FROM alerts) AS n
WHERE alerts.pk = n.pk;
ALTER TABLE alerts ALTER COLUMN seq SET NOT NULL;
INSERT INTO counters (name, value) SELECT 'alert_seq', COUNT(*) FROM alerts;
CREATE UNIQUE INDEX alerts_seq ON alerts (seq);
