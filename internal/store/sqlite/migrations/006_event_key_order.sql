-- The idempotency key compares its most distinct column first. Every insert
-- descends this index, and with (tenant, source, id) each comparison on the
-- way read two columns that were nearly always equal before reaching the
-- id: a tenth of an event's whole cost in the store (docs/performance.md,
-- "The idempotency key, id first"). Every query of the key names all three
-- columns, so none needs the old order. An existing archive's index is
-- built again here, once, before the server starts.
DROP INDEX events_key;
CREATE UNIQUE INDEX events_key ON events (id, source, tenant);
