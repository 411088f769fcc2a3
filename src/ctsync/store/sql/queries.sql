-- Every SQL statement ctsync runs, as named blocks (procrastinate's format).
-- Parameters are written :name; the PostgreSQL connector rewrites them.
-- A block named `name@sqlite` or `name@postgres` replaces `name` for that dialect.

-- insert_event --
INSERT INTO events (dedupe_key, received_at, envelope, kind, type, project_key,
                    resource_type, resource_id, resource_version, message_id,
                    created_at, status, reason, user_id, payload)
VALUES (:dedupe_key, :received_at, :envelope, :kind, :type, :project_key,
        :resource_type, :resource_id, :resource_version, :message_id,
        :created_at, :status, :reason, :user_id, :payload)
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id

-- event_by_dedupe_key --
SELECT id, status, reason, user_id FROM events WHERE dedupe_key = :dedupe_key

-- set_event_status --
UPDATE events SET status = :status, reason = :reason, user_id = COALESCE(:user_id, user_id)
WHERE id = :id AND status = :expected

-- waiting_events --
SELECT id, kind, type, project_key, resource_type, resource_id, resource_version,
       message_id, created_at, dedupe_key, envelope, payload
FROM events
WHERE project_key = :project_key AND resource_id = :resource_id AND status = 'waiting'
ORDER BY resource_version, id

-- lock_identity --
-- Creates the row when new and locks it either way (an upsert takes the row lock
-- in PostgreSQL; SQLite's writer holds the database lock), in one statement.
INSERT INTO identities (project_key, customer_id, user_id, state, updated_at)
VALUES (:project_key, :customer_id, NULL, NULL, :now)
ON CONFLICT (project_key, customer_id) DO UPDATE SET project_key = excluded.project_key
RETURNING user_id, state, waiting

-- identity_state --
-- A customer's identity without locking it: an order reads its buyer's userId.
SELECT user_id, state FROM identities
WHERE project_key = :project_key AND customer_id = :customer_id

-- set_identity_waiting --
-- Set when a delta waits for the customer's snapshot; cleared once they are released.
UPDATE identities SET waiting = :waiting
WHERE project_key = :project_key AND customer_id = :customer_id

-- put_identity --
UPDATE identities SET user_id = :user_id, state = :state, deleted = :deleted,
                      updated_at = :now
WHERE project_key = :project_key AND customer_id = :customer_id

-- event_message_ids --
SELECT message_id FROM outbox WHERE event_id = :event_id

-- insert_message --
INSERT INTO outbox (event_id, message_id, order_key, type, user_id, body, status,
                    attempts, created_at, deadline, next_attempt_at, last_error, finished_at,
                    mapping_version, destination)
VALUES (:event_id, :message_id, :order_key, :type, :user_id, :body, :status,
        0, :now, :deadline, :now, :error, :finished_at, :mapping_version, :destination)
ON CONFLICT (message_id) DO NOTHING

-- lock_identities --
-- A page of customers at once (a backfill): lock_identity for each of :ids (a JSON array).
INSERT INTO identities (project_key, customer_id, user_id, state, updated_at)
SELECT :project_key, r.id, NULL, NULL, :now
FROM json_array_elements_text(CAST(:ids AS json)) AS r (id)
ON CONFLICT (project_key, customer_id) DO UPDATE SET project_key = excluded.project_key
RETURNING customer_id, user_id, state, waiting

-- lock_identities@sqlite --
-- WHERE true: SQLite's parser needs it between a SELECT and ON CONFLICT.
INSERT INTO identities (project_key, customer_id, user_id, state, updated_at)
SELECT :project_key, value, NULL, NULL, :now FROM json_each(:ids) WHERE true
ON CONFLICT (project_key, customer_id) DO UPDATE SET project_key = excluded.project_key
RETURNING customer_id, user_id, state, waiting

-- insert_events --
-- insert_event for a page: :rows is a JSON array of the events, in order (payload as text).
INSERT INTO events (dedupe_key, received_at, envelope, kind, type, project_key,
                    resource_type, resource_id, resource_version, message_id,
                    created_at, status, reason, user_id, payload)
SELECT r.dedupe_key, :now, r.envelope, r.kind, r.type, r.project_key, r.resource_type,
       r.resource_id, r.resource_version, r.message_id, r.created_at, r.status, r.reason,
       r.user_id, r.payload
FROM json_to_recordset(CAST(:rows AS json))
     AS r (dedupe_key TEXT, envelope TEXT, kind TEXT, type TEXT, project_key TEXT,
           resource_type TEXT, resource_id TEXT, resource_version BIGINT, message_id TEXT,
           created_at TEXT, status TEXT, reason TEXT, user_id TEXT, payload TEXT)
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id, dedupe_key

-- insert_events@sqlite --
INSERT INTO events (dedupe_key, received_at, envelope, kind, type, project_key,
                    resource_type, resource_id, resource_version, message_id,
                    created_at, status, reason, user_id, payload)
SELECT value ->> '$.dedupe_key', :now, value ->> '$.envelope', value ->> '$.kind',
       value ->> '$.type', value ->> '$.project_key', value ->> '$.resource_type',
       value ->> '$.resource_id', value ->> '$.resource_version', value ->> '$.message_id',
       value ->> '$.created_at', value ->> '$.status', value ->> '$.reason',
       value ->> '$.user_id', value ->> '$.payload'
FROM json_each(:rows) WHERE true
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id, dedupe_key

-- put_identities --
-- put_identity for a page: :rows is a JSON array of {customer_id, user_id, state, deleted}.
UPDATE identities SET user_id = r.user_id, state = r.state, deleted = r.deleted,
                      updated_at = :now
FROM json_to_recordset(CAST(:rows AS json))
     AS r (customer_id TEXT, user_id TEXT, state TEXT, deleted INTEGER)
WHERE identities.project_key = :project_key AND identities.customer_id = r.customer_id

-- put_identities@sqlite --
-- An upsert (the rows exist: lock_identities made them): SQLite would plan UPDATE FROM
-- as a scan of identities per row.
INSERT INTO identities (project_key, customer_id, user_id, state, deleted, updated_at)
SELECT :project_key, value ->> '$.customer_id', value ->> '$.user_id', value ->> '$.state',
       value ->> '$.deleted', :now
FROM json_each(:rows) WHERE true
ON CONFLICT (project_key, customer_id) DO UPDATE SET
    user_id = excluded.user_id, state = excluded.state, deleted = excluded.deleted,
    updated_at = excluded.updated_at

-- insert_messages --
-- insert_message for a page: :rows is a JSON array of {event_id, message_id, order_key,
-- type, user_id, body, status, error, position, mapping_version, destination};
-- created_at = :now + position * :step (the same float arithmetic as one by one).
-- Returns the rows that were new.
INSERT INTO outbox (event_id, message_id, order_key, type, user_id, body, status,
                    attempts, created_at, deadline, next_attempt_at, last_error, finished_at,
                    mapping_version, destination)
SELECT r.event_id, r.message_id, r.order_key, r.type, r.user_id, r.body, r.status, 0,
       :now + CAST(r.position AS DOUBLE PRECISION) * :step, :deadline,
       :now + CAST(r.position AS DOUBLE PRECISION) * :step, r.error,
       CASE WHEN r.status = 'dead' THEN :now END, r.mapping_version, r.destination
FROM json_to_recordset(CAST(:rows AS json))
     AS r (event_id BIGINT, message_id TEXT, order_key TEXT, type TEXT, user_id TEXT,
           body TEXT, status TEXT, error TEXT, position INTEGER, mapping_version TEXT,
           destination TEXT)
ON CONFLICT (message_id) DO NOTHING
RETURNING event_id, message_id

-- insert_messages@sqlite --
INSERT INTO outbox (event_id, message_id, order_key, type, user_id, body, status,
                    attempts, created_at, deadline, next_attempt_at, last_error, finished_at,
                    mapping_version, destination)
SELECT value ->> '$.event_id', value ->> '$.message_id', value ->> '$.order_key',
       value ->> '$.type', value ->> '$.user_id', value ->> '$.body', value ->> '$.status', 0,
       :now + (value ->> '$.position') * :step, :deadline,
       :now + (value ->> '$.position') * :step, value ->> '$.error',
       CASE WHEN value ->> '$.status' = 'dead' THEN :now END,
       value ->> '$.mapping_version', value ->> '$.destination'
FROM json_each(:rows) WHERE true
ON CONFLICT (message_id) DO NOTHING
RETURNING event_id, message_id

-- claim --
WITH candidates AS (
    SELECT o.id FROM outbox o
    WHERE o.status = 'pending' AND o.next_attempt_at <= :now
      AND (o.lease_until IS NULL OR o.lease_until < :now)
      AND o.destination = :destination
      AND NOT EXISTS (
          SELECT 1 FROM outbox p
          WHERE p.order_key = o.order_key AND p.status = 'pending' AND p.id < o.id
            AND p.destination = o.destination)
    ORDER BY o.next_attempt_at, o.id
    LIMIT :limit
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE outbox SET lease_owner = :owner, lease_until = :lease_until
FROM candidates WHERE outbox.id = candidates.id
RETURNING outbox.id, outbox.message_id, outbox.type, outbox.user_id, outbox.body,
          outbox.attempts, outbox.created_at, outbox.deadline, outbox.event_id

-- claim@sqlite --
UPDATE outbox SET lease_owner = :owner, lease_until = :lease_until
WHERE id IN (
    SELECT o.id FROM outbox o
    WHERE o.status = 'pending' AND o.next_attempt_at <= :now
      AND (o.lease_until IS NULL OR o.lease_until < :now)
      AND o.destination = :destination
      AND NOT EXISTS (
          SELECT 1 FROM outbox p
          WHERE p.order_key = o.order_key AND p.status = 'pending' AND p.id < o.id
            AND p.destination = o.destination)
    ORDER BY o.next_attempt_at, o.id
    LIMIT :limit)
RETURNING id, message_id, type, user_id, body, attempts, created_at, deadline, event_id

-- reschedule_message --
UPDATE outbox SET attempts = attempts + 1, next_attempt_at = :next_attempt_at,
                  last_error = :error, lease_owner = NULL, lease_until = NULL
WHERE id = :id AND status = 'pending' AND lease_owner = :owner

-- renew_leases --
-- A live drainer keeps what it is still sending: its send, the rate-limit wait or a
-- batch resent one by one may outlast the lease it claimed with.
UPDATE outbox SET lease_until = :lease_until
WHERE lease_owner = :owner AND status = 'pending'

-- release_message --
UPDATE outbox SET lease_owner = NULL, lease_until = NULL
WHERE id = :id AND status = 'pending' AND lease_owner = :owner

-- finish_messages --
-- A batch's outcomes in one statement: :rows is a JSON array of {id, status, error}.
UPDATE outbox SET status = r.status, attempts = outbox.attempts + 1, finished_at = :now,
                  last_error = r.error, lease_owner = NULL, lease_until = NULL
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r (id BIGINT, status TEXT, error TEXT)
WHERE outbox.id = r.id AND outbox.status = 'pending' AND outbox.lease_owner = :owner

-- finish_messages@sqlite --
UPDATE outbox SET status = r.status, attempts = outbox.attempts + 1, finished_at = :now,
                  last_error = r.error, lease_owner = NULL, lease_until = NULL
FROM (SELECT value ->> '$.id' AS id, value ->> '$.status' AS status,
             value ->> '$.error' AS error
      FROM json_each(:rows)) AS r
-- The unary + keeps SQLite from scanning every pending row (index on status) per item.
WHERE outbox.id = r.id AND +outbox.status = 'pending' AND outbox.lease_owner = :owner

-- insert_attempts --
-- :rows is a JSON array of {outbox_id, outcome, status_code, latency_ms, detail}.
INSERT INTO attempts (outbox_id, at, outcome, status_code, latency_ms, detail)
SELECT r.outbox_id, :at, r.outcome, r.status_code, r.latency_ms, r.detail
FROM jsonb_to_recordset(CAST(:rows AS jsonb))
     AS r (outbox_id BIGINT, outcome TEXT, status_code INTEGER, latency_ms DOUBLE PRECISION,
           detail TEXT)

-- insert_attempts@sqlite --
INSERT INTO attempts (outbox_id, at, outcome, status_code, latency_ms, detail)
SELECT value ->> '$.outbox_id', :at, value ->> '$.outcome', value ->> '$.status_code',
       value ->> '$.latency_ms', value ->> '$.detail'
FROM json_each(:rows)

-- replay_message --
UPDATE outbox SET status = 'pending', next_attempt_at = :now, deadline = :deadline,
                  attempts = 0, finished_at = NULL, lease_owner = NULL, lease_until = NULL
WHERE id = :id AND status = 'dead'

-- discard_message --
UPDATE outbox SET status = 'discarded', finished_at = :now WHERE id = :id AND status = 'dead'

-- dead_ids --
SELECT id FROM outbox WHERE status = 'dead' ORDER BY id

-- list_messages --
SELECT id, event_id, message_id, type, user_id, body, status, attempts, created_at,
       next_attempt_at, last_error, finished_at
FROM outbox
WHERE (CAST(:status AS TEXT) IS NULL OR status = :status)
ORDER BY id DESC
LIMIT :limit

-- messages_of_event --
SELECT id, message_id, type, user_id, body, status, attempts, created_at,
       next_attempt_at, last_error, finished_at, mapping_version, destination
FROM outbox WHERE event_id = :event_id ORDER BY id

-- recent_events --
-- The events a mapping diff replays: the last :limit, or those received since :since.
SELECT id, dedupe_key, received_at, envelope, kind, type, project_key, resource_type,
       resource_id, resource_version, message_id, created_at, status, reason, user_id
FROM events
WHERE received_at >= :since AND status NOT IN ('rejected', 'duplicate')
ORDER BY id DESC
LIMIT :limit

-- resource_history --
-- One resource's stored events in the order they were recorded (payloads included).
SELECT id, dedupe_key, received_at, envelope, kind, type, project_key, resource_type,
       resource_id, resource_version, message_id, created_at, status, reason, user_id,
       payload
FROM events
WHERE project_key = :project_key AND resource_id = :resource_id AND id <= :up_to
  AND status NOT IN ('rejected', 'duplicate')
ORDER BY id

-- attempts_of_message --
SELECT at, outcome, status_code, latency_ms, detail FROM attempts
WHERE outbox_id = :outbox_id ORDER BY id

-- list_events --
SELECT id, dedupe_key, received_at, envelope, kind, type, project_key, resource_type,
       resource_id, resource_version, message_id, created_at, status, reason, user_id
FROM events
WHERE (CAST(:status AS TEXT) IS NULL OR status = :status)
  AND (CAST(:resource_id AS TEXT) IS NULL OR resource_id = :resource_id)
  AND (CAST(:user_id AS TEXT) IS NULL OR user_id = :user_id)
ORDER BY id DESC
LIMIT :limit

-- get_event --
SELECT id, dedupe_key, received_at, envelope, kind, type, project_key, resource_type,
       resource_id, resource_version, message_id, created_at, status, reason, user_id,
       payload
FROM events WHERE id = :id

-- counts --
SELECT status, COUNT(*) AS n FROM outbox GROUP BY status

-- event_counts --
SELECT status, COUNT(*) AS n FROM events GROUP BY status

-- next_due --
SELECT MIN(next_attempt_at) AS due FROM outbox WHERE status = 'pending'

-- init_rate --
INSERT INTO rate_limits (name, tokens, updated_at) VALUES (:name, :tokens, :now)
ON CONFLICT (name) DO NOTHING

-- get_rate --
SELECT tokens, updated_at FROM rate_limits WHERE name = :name FOR UPDATE

-- get_rate@sqlite --
SELECT tokens, updated_at FROM rate_limits WHERE name = :name

-- put_rate --
INSERT INTO rate_limits (name, tokens, updated_at) VALUES (:name, :tokens, :now)
ON CONFLICT (name) DO UPDATE SET tokens = :tokens, updated_at = :now

-- purge_attempts --
DELETE FROM attempts WHERE at < :before
  AND outbox_id IN (SELECT id FROM outbox WHERE status IN ('delivered', 'captured', 'discarded'))

-- purge_messages --
DELETE FROM outbox WHERE finished_at < :before AND status IN ('delivered', 'captured', 'discarded')

-- purge_payloads --
UPDATE events SET payload = NULL
WHERE received_at < :before AND payload IS NOT NULL
  AND status NOT IN ('waiting', 'failed')
  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = events.id)

-- purge_deleted_identities --
-- A tombstone outlives the retention period, so that a late snapshot (a redelivery,
-- a backfill page read before the deletion) cannot identify the customer again.
DELETE FROM identities
WHERE deleted = 1 AND updated_at < :before
  AND NOT EXISTS (SELECT 1 FROM outbox o
                  WHERE o.order_key = identities.project_key || ':' || identities.customer_id
                    AND o.status IN ('pending', 'dead'))

-- last_sink_answer --
SELECT at, status_code FROM attempts WHERE status_code IS NOT NULL ORDER BY id DESC LIMIT 1

-- ping --
SELECT 1 AS ok

-- insert_regulation --
-- A deleted customer's regulation, to request from Segment's Public API.
INSERT INTO regulations (project_key, customer_id, user_id, regulation_type, status,
                         created_at, updated_at, next_check_at)
VALUES (:project_key, :customer_id, :user_id, :regulation_type, 'requested', :now, :now, :now)
ON CONFLICT (project_key, customer_id) DO NOTHING

-- due_regulations --
-- To request (status 'requested') or to poll (not finished), when due.
SELECT id, project_key, customer_id, user_id, regulation_type, regulate_id, status, attempts
FROM regulations
WHERE next_check_at <= :now
  AND status NOT IN ('FINISHED', 'FAILED', 'INVALID', 'NOT_SUPPORTED', 'PARTIAL_SUCCESS', 'refused')
ORDER BY next_check_at, id
LIMIT :limit

-- set_regulation --
UPDATE regulations SET regulate_id = COALESCE(:regulate_id, regulate_id), status = :status,
                       detail = :detail, attempts = :attempts, updated_at = :now,
                       next_check_at = :next_check_at
WHERE id = :id

-- list_regulations --
SELECT id, project_key, customer_id, user_id, regulation_type, regulate_id, status, detail,
       attempts, created_at, updated_at
FROM regulations ORDER BY id DESC LIMIT :limit

-- customer_identities --
-- Every customer ctsync keeps an identity for (not deleted), for a mapping apply.
SELECT project_key, customer_id, user_id, state FROM identities
WHERE deleted = 0 AND state IS NOT NULL AND user_id IS NOT NULL
ORDER BY project_key, customer_id

-- backfill_get --
SELECT name, resource, project_key, filters, cursor, status, processed, queued, total,
       started_at, updated_at, finished_at, error
FROM backfills WHERE name = :name

-- backfill_begin --
-- A new backfill, or a finished one started over; an unfinished one keeps its cursor.
INSERT INTO backfills (name, resource, project_key, filters, cursor, status, processed,
                       queued, total, started_at, updated_at)
VALUES (:name, :resource, :project_key, :filters, NULL, 'running', 0, 0, :total, :now, :now)
ON CONFLICT (name) DO UPDATE SET
    status = 'running', total = COALESCE(excluded.total, backfills.total),
    updated_at = excluded.updated_at,
    finished_at = NULL, error = NULL,
    cursor = CASE WHEN :restart = 1 OR backfills.status = 'done' THEN NULL
                  ELSE backfills.cursor END,
    processed = CASE WHEN :restart = 1 OR backfills.status = 'done' THEN 0
                     ELSE backfills.processed END,
    queued = CASE WHEN :restart = 1 OR backfills.status = 'done' THEN 0
                  ELSE backfills.queued END,
    started_at = CASE WHEN :restart = 1 OR backfills.status = 'done' THEN excluded.started_at
                      ELSE backfills.started_at END
RETURNING cursor, processed, queued

-- backfill_page --
-- In the transaction that stored the page: its id range's cursor moves with it.
UPDATE backfills SET
    cursor = jsonb_set(cursor::jsonb, ARRAY['after', CAST(:stream AS TEXT)],
                       to_jsonb(CAST(:after AS TEXT)))::text,
    processed = processed + :processed, updated_at = :now,
    total = COALESCE(:total, total)
WHERE name = :name AND status = 'running'

-- backfill_page@sqlite --
UPDATE backfills SET
    cursor = json_set(cursor, '$.after[' || :stream || ']', :after),
    processed = processed + :processed, updated_at = :now,
    total = COALESCE(:total, total)
WHERE name = :name AND status = 'running'

-- backfill_stream_done --
-- An id range read to its end.
UPDATE backfills SET
    cursor = jsonb_set(cursor::jsonb, ARRAY['done', CAST(:stream AS TEXT)], 'true'::jsonb)::text,
    updated_at = :now
WHERE name = :name AND status = 'running'

-- backfill_stream_done@sqlite --
UPDATE backfills SET cursor = json_set(cursor, '$.done[' || :stream || ']', json('true')),
                     updated_at = :now
WHERE name = :name AND status = 'running'

-- backfill_cursor --
UPDATE backfills SET cursor = :cursor WHERE name = :name

-- backfill_end --
UPDATE backfills SET status = :status, error = :error, updated_at = :now, finished_at = :now,
                     total = COALESCE(:total, total)
WHERE name = :name AND status = 'running'

-- list_backfills --
-- With what its read pages still hold for the delivery side to queue.
SELECT b.name, b.resource, b.project_key, b.filters, b.cursor, b.status, b.processed,
       b.queued, b.total, b.started_at, b.updated_at, b.finished_at, b.error,
       COALESCE(s.pages, 0) AS staged_pages, COALESCE(s.waiting, 0) AS staged,
       COALESCE(s.failed, 0) AS failed_pages, s.last_error AS staged_error
FROM backfills b
LEFT JOIN (
    -- A failed page waits for nothing: it is counted in failed_pages, not in staged.
    SELECT backfill, COUNT(*) AS pages,
           SUM(CASE WHEN failed = 0 THEN size - done ELSE 0 END) AS waiting,
           SUM(failed) AS failed, MAX(error) AS last_error
    FROM backfill_pages GROUP BY backfill
) s ON s.backfill = b.name
ORDER BY b.updated_at DESC LIMIT :limit

-- stage_page --
-- A page as the API answered it; queued later by the delivery side (queue_staged).
INSERT INTO backfill_pages (backfill, project_key, resource, body, size, next_attempt_at,
                            created_at)
VALUES (:backfill, :project_key, :resource, :body, :size, :now, :now)

-- claim_staged_page --
-- The oldest due page, leased until :lease_until (a worker that dies lets it go).
WITH due AS (
    SELECT id FROM backfill_pages
    WHERE failed = 0 AND next_attempt_at <= :now
    ORDER BY id LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE backfill_pages p SET next_attempt_at = :lease_until, attempts = p.attempts + 1
FROM due WHERE p.id = due.id
RETURNING p.id, p.backfill, p.project_key, p.resource, p.body, p.size, p.done, p.attempts

-- claim_staged_page@sqlite --
UPDATE backfill_pages SET next_attempt_at = :lease_until, attempts = attempts + 1
WHERE id = (
    SELECT id FROM backfill_pages WHERE failed = 0 AND next_attempt_at <= :now
    ORDER BY id LIMIT 1)
RETURNING id, backfill, project_key, resource, body, size, done, attempts

-- staged_chunk_done --
-- In the transaction that queued the chunk: only the lease holder moves `done` on.
UPDATE backfill_pages SET done = :done, next_attempt_at = :lease_until
WHERE id = :id AND done = :expected AND failed = 0

-- staged_page_done --
DELETE FROM backfill_pages WHERE id = :id AND done = :expected AND failed = 0

-- staged_page_queued --
UPDATE backfills SET queued = queued + :queued, updated_at = :now WHERE name = :name

-- staged_page_error --
UPDATE backfill_pages SET error = :error, next_attempt_at = :at, failed = :failed
WHERE id = :id

-- backfill_staged --
-- What still waits to be queued, and the pages that never will be (failed).
SELECT b.queued,
       (SELECT COALESCE(SUM(size - done), 0) FROM backfill_pages
        WHERE backfill = :name AND failed = 0) AS staged,
       (SELECT COUNT(*) FROM backfill_pages WHERE backfill = :name AND failed = 1) AS failed,
       (SELECT COALESCE(SUM(size - done), 0) FROM backfill_pages
        WHERE backfill = :name AND failed = 0 AND error IS NOT NULL) AS retrying
FROM backfills b WHERE b.name = :name

-- staged_summary --
SELECT COUNT(*) AS pages, COALESCE(SUM(size - done), 0) AS waiting,
       COALESCE(SUM(failed), 0) AS failed,
       MIN(CASE WHEN failed = 0 THEN created_at END) AS oldest
FROM backfill_pages

-- claim_reads --
-- Events to resolve by an API read, leased until :lease_until. A change notification
-- waits :settle seconds after it arrived, so the messages of its version come first.
WITH due AS (
    SELECT id FROM events
    WHERE status IN ('fetching', 'waiting') AND resource_type = 'customer'
      AND fetch_attempts < :max_attempts
      AND COALESCE(fetch_after, CASE WHEN kind = 'change' AND message_id IS NULL
                                     THEN received_at + :settle ELSE 0 END) <= :now
    ORDER BY id LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE events e SET fetch_after = :lease_until, fetch_attempts = e.fetch_attempts + 1
FROM due WHERE e.id = due.id
RETURNING e.id, e.status, e.kind, e.type, e.project_key, e.resource_type, e.resource_id,
          e.resource_version, e.message_id, e.fetch_attempts

-- claim_reads@sqlite --
UPDATE events SET fetch_after = :lease_until, fetch_attempts = fetch_attempts + 1
WHERE id IN (
    SELECT id FROM events
    WHERE status IN ('fetching', 'waiting') AND resource_type = 'customer'
      AND fetch_attempts < :max_attempts
      AND COALESCE(fetch_after, CASE WHEN kind = 'change' AND message_id IS NULL
                                     THEN received_at + :settle ELSE 0 END) <= :now
    ORDER BY id LIMIT :limit)
RETURNING id, status, kind, type, project_key, resource_type, resource_id,
          resource_version, message_id, fetch_attempts

-- reschedule_read --
UPDATE events SET fetch_after = :at WHERE id = :id AND status = :expected

-- covering_message --
-- A message (with its payload) of the same version: it carries the change.
SELECT id FROM events
WHERE project_key = :project_key AND resource_id = :resource_id AND kind = 'message'
  AND resource_version = :version
LIMIT 1

-- last_event_seen --
-- The newest delivery commercetools made (reads and backfills are ctsync's own).
SELECT MAX(received_at) AS at FROM events WHERE envelope NOT IN ('backfill', 'api')

-- search_events --
-- The dashboard's event list: every filter optional, newest first, keyset paging on id.
SELECT id, received_at, envelope, type, resource_type, resource_id, resource_version,
       message_id, status, reason, user_id
FROM events
WHERE (CAST(:status AS TEXT) IS NULL OR status = :status)
  AND (CAST(:customer AS TEXT) IS NULL
       OR (resource_type = 'customer' AND resource_id = :customer))
  AND (CAST(:order_id AS TEXT) IS NULL
       OR (resource_type = 'order' AND resource_id = :order_id))
  AND (CAST(:user_id AS TEXT) IS NULL OR user_id = :user_id)
  AND (CAST(:type AS TEXT) IS NULL OR type = :type)
  AND (CAST(:since AS DOUBLE PRECISION) IS NULL OR received_at >= :since)
  AND (CAST(:until AS DOUBLE PRECISION) IS NULL OR received_at < :until)
  AND (CAST(:before AS BIGINT) IS NULL OR id < :before)
ORDER BY id DESC
LIMIT :limit

-- event_types --
SELECT DISTINCT type FROM events ORDER BY type

-- received_buckets --
SELECT CAST((received_at - :since) / :step AS INTEGER) AS b, COUNT(*) AS n
FROM events WHERE received_at >= :since GROUP BY 1

-- received_buckets@postgres --
SELECT CAST(FLOOR((received_at - :since) / :step) AS INTEGER) AS b, COUNT(*) AS n
FROM events WHERE received_at >= :since GROUP BY 1

-- finished_buckets --
SELECT CAST((finished_at - :since) / :step AS INTEGER) AS b, status, COUNT(*) AS n
FROM outbox WHERE finished_at >= :since GROUP BY 1, 2

-- finished_buckets@postgres --
SELECT CAST(FLOOR((finished_at - :since) / :step) AS INTEGER) AS b, status, COUNT(*) AS n
FROM outbox WHERE finished_at >= :since GROUP BY 1, 2

-- retry_buckets --
SELECT CAST((at - :since) / :step AS INTEGER) AS b, COUNT(*) AS n
FROM attempts WHERE at >= :since AND outcome = 'retry' GROUP BY 1

-- retry_buckets@postgres --
SELECT CAST(FLOOR((at - :since) / :step) AS INTEGER) AS b, COUNT(*) AS n
FROM attempts WHERE at >= :since AND outcome = 'retry' GROUP BY 1

-- outbox_health --
SELECT COUNT(*) AS depth,
       MIN(CASE WHEN next_attempt_at <= :now THEN next_attempt_at END) AS oldest_due
FROM outbox WHERE status = 'pending'

-- dead_groups --
SELECT last_error AS reason, COUNT(*) AS n, MIN(id) AS first_id, MAX(finished_at) AS latest
FROM outbox WHERE status = 'dead' GROUP BY last_error ORDER BY COUNT(*) DESC, MIN(id)

-- dead_of_reason --
SELECT id, event_id, message_id, type, user_id, attempts, created_at, last_error, finished_at
FROM outbox WHERE status = 'dead' AND last_error = :reason ORDER BY id LIMIT :limit

-- dead_ids_of_reason --
SELECT id FROM outbox WHERE status = 'dead' AND last_error = :reason ORDER BY id

-- replay_targets --
-- Finished messages a replay by filter puts back (never pending ones: they go anyway).
SELECT o.id, o.message_id, o.body, o.status, o.type, o.user_id, o.order_key FROM outbox o
WHERE o.status IN ('delivered', 'captured', 'dead', 'discarded')
  AND (CAST(:status AS TEXT) IS NULL OR o.status = :status)
  AND (CAST(:user_id AS TEXT) IS NULL OR o.user_id = :user_id)
  AND (CAST(:customer AS TEXT) IS NULL OR EXISTS (
        SELECT 1 FROM events e WHERE e.id = o.event_id AND e.resource_id = :customer))
  AND (CAST(:since AS DOUBLE PRECISION) IS NULL OR o.created_at >= :since)
  AND (CAST(:until AS DOUBLE PRECISION) IS NULL OR o.created_at < :until)
ORDER BY o.id

-- requeue_message --
-- A replay: the message is due now with a fresh retry horizon and no attempts counted;
-- its earlier attempts stay in the attempts table, followed by a 'replayed' mark.
UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = :now,
                  deadline = :deadline, finished_at = NULL, last_error = NULL,
                  lease_owner = NULL, lease_until = NULL,
                  message_id = :message_id, body = :body
WHERE id = :id AND status IN ('delivered', 'captured', 'dead', 'discarded')

-- mark_replayed --
INSERT INTO attempts (outbox_id, at, outcome, status_code, latency_ms, detail)
VALUES (:id, :now, 'replayed', NULL, NULL, :detail)

-- outbox_row --
SELECT id, message_id, body, status FROM outbox WHERE id = :id

-- latest_of_key --
-- A customer's newest message that reached (or will reach) the sink.
SELECT MAX(id) AS id FROM outbox
WHERE order_key = :order_key AND status IN ('delivered', 'captured', 'pending')
