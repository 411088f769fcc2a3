-- Each queued message records the mapping (its file's `version`) that produced it,
-- so a mapping change can be compared with what was sent. Earlier rows: NULL.
ALTER TABLE outbox ADD COLUMN mapping_version TEXT;
