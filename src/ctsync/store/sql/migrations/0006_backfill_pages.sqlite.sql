-- Pages a backfill has read, kept as the API answered them until the delivery side
-- queues their snapshots (a chunk of a page per transaction: `done` of `size`).
-- The reader only stores pages, so it reads commercetools as fast as the API pages.
CREATE TABLE backfill_pages (
    id INTEGER PRIMARY KEY,
    backfill TEXT NOT NULL,
    project_key TEXT NOT NULL,
    resource TEXT NOT NULL,
    body TEXT NOT NULL,
    size INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    error TEXT,
    failed INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE INDEX backfill_pages_due ON backfill_pages (failed, next_attempt_at, id);
CREATE INDEX backfill_pages_backfill ON backfill_pages (backfill);
