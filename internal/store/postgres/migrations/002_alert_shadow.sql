-- Shadow alerts: a detector in shadow mode (or a shadow rule) stores its
-- alerts marked 1; the alert queue lists the 0s. Existing alerts were raised.
ALTER TABLE alerts ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0;
