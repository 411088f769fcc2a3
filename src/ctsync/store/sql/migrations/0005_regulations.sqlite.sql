-- Segment deletion/suppression regulations requested for deleted customers
-- (Public API), with the status last polled. One per customer.
CREATE TABLE regulations (
    id INTEGER PRIMARY KEY,
    project_key TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    regulation_type TEXT NOT NULL,
    regulate_id TEXT,
    status TEXT NOT NULL,
    detail TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    next_check_at REAL NOT NULL,
    UNIQUE (project_key, customer_id)
);
CREATE INDEX regulations_due ON regulations (status, next_check_at);
