-- Each queued message records the mapping (its file's `version`) that produced it,
-- so a mapping change can be compared with what was sent. Earlier rows: NULL.
ALTER TABLE outbox ADD COLUMN mapping_version TEXT;
-- The destination (a route of the mapping file) a message goes to; each is
-- drained in its own lane. Rows before routes existed go to the default one.
ALTER TABLE outbox ADD COLUMN destination TEXT NOT NULL DEFAULT 'default';
