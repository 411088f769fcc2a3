-- One row per backfill (a resource, a project and its filters): where it stands,
-- so a killed run resumes after its last stored page and the admin API shows it.
CREATE TABLE backfills (
    name TEXT PRIMARY KEY,
    resource TEXT NOT NULL,
    project_key TEXT NOT NULL,
    filters TEXT NOT NULL,
    cursor TEXT,
    status TEXT NOT NULL,
    processed INTEGER NOT NULL DEFAULT 0,
    queued INTEGER NOT NULL DEFAULT 0,
    total INTEGER,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL,
    error TEXT
);

-- Events resolved by reading the API (a notification without data, a delta waiting
-- for an unknown customer) are claimed like outbox rows: not before fetch_after.
ALTER TABLE events ADD COLUMN fetch_after REAL;
ALTER TABLE events ADD COLUMN fetch_attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_api_reads ON events (id) WHERE status IN ('fetching', 'waiting');
