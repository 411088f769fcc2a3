CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    dedupe_key TEXT NOT NULL UNIQUE,
    received_at REAL NOT NULL,
    envelope TEXT NOT NULL,
    kind TEXT NOT NULL,
    type TEXT NOT NULL,
    project_key TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    resource_version INTEGER,
    message_id TEXT,
    created_at TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    user_id TEXT,
    payload TEXT
);
CREATE INDEX events_resource ON events (project_key, resource_id, status);
CREATE INDEX events_received ON events (received_at);
CREATE INDEX events_user ON events (user_id);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    event_id INTEGER REFERENCES events (id) ON DELETE SET NULL,
    message_id TEXT NOT NULL UNIQUE,
    order_key TEXT NOT NULL,
    type TEXT NOT NULL,
    user_id TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    deadline REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL,
    last_error TEXT,
    finished_at REAL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at, id);
CREATE INDEX outbox_order ON outbox (order_key, status, id);
CREATE INDEX outbox_event ON outbox (event_id);

CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    at REAL NOT NULL,
    outcome TEXT NOT NULL,
    status_code INTEGER,
    latency_ms REAL,
    detail TEXT
);
CREATE INDEX attempts_outbox ON attempts (outbox_id);

CREATE TABLE identities (
    project_key TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    user_id TEXT,
    state TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    PRIMARY KEY (project_key, customer_id)
);

CREATE TABLE sync_cursors (
    name TEXT PRIMARY KEY,
    cursor TEXT,
    updated_at REAL NOT NULL
);

CREATE TABLE rate_limits (
    name TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    updated_at REAL NOT NULL
);
