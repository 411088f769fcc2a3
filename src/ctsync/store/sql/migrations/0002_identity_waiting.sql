-- An identity knows whether deltas wait for its snapshot, so recording a new
-- customer's first event needs no look for waiting events.
ALTER TABLE identities ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0;
UPDATE identities SET waiting = 1
WHERE EXISTS (
    SELECT 1 FROM events e
    WHERE e.project_key = identities.project_key
      AND e.resource_id = identities.customer_id
      AND e.status = 'waiting');
