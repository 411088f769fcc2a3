"""Record a page of snapshots (a backfill page) with a few multi-row statements.

``record_page`` leaves the store exactly as ``record_event`` called on each
event in turn would (same event rows, outbox rows and identities, the same
statuses and reasons), but locks the page's identities, inserts its events,
queues its messages and stores the identities in one statement each, instead
of four or more per customer. Rare outcomes (a duplicate, a waiting delta to
release, an event whose messages were all queued already) take the one-row
path of ``pipeline``. A page whose events are not one project's distinct
customers is recorded one event at a time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ctsync.ingress._model import CtEvent
from ctsync.mapping import IdentityState, Plan
from ctsync.pipeline import (
    Planner,
    RecordResult,
    _duplicate,
    _Identity,
    _message_rows,
    _plan,
    _release_waiting,
    _settle,
    record_event,
)
from ctsync.store import Conn

__all__ = ["record_page"]

_STEP = 1e-6  # the outbox rows of one event are created 1 µs apart (as in _message_rows)


def record_page(
    conn: Conn, events: Sequence[CtEvent], *, planner: Planner, now: float, horizon_s: float
) -> list[RecordResult]:
    """``record_event`` for each of ``events``, in a few statements; their results in order."""
    if not _batchable(events):
        return [
            record_event(conn, e, planner=planner, now=now, horizon_s=horizon_s) for e in events
        ]
    project = events[0].project_key
    identities = _lock_identities(conn, events, project, now)
    plans = [_plan(planner, e, identities[e.resource_id].state) for e in events]
    ids = _insert_events(conn, events, plans, now)
    queued = _queue_messages(conn, events, plans, ids, now=now, horizon_s=horizon_s)
    stored = [
        (e, p) for e, p in zip(events, plans, strict=True) if p.state and ids.get(e.dedupe_key)
    ]
    _store_identities(conn, project, stored, now)
    results = []
    for event, plan in zip(events, plans, strict=True):
        event_id = ids.get(event.dedupe_key)
        if event_id is None:
            results.append(_duplicate(conn, event))
            continue
        result = _settle(
            conn, event, event_id, plan, queued.get(event_id, ()), recorded=plan.status
        )
        if result.status == "accepted" and identities[event.resource_id].releases_waiting:
            _release_waiting(
                conn, event, planner=planner, now=now, horizon_s=horizon_s, regulation_type=None
            )
        results.append(result)
    return results


def _batchable(events: Sequence[CtEvent]) -> bool:
    """One project's distinct customers: no event of the page sees another's outcome.

    Orders (their buyer's state is looked up per order) go one by one.
    """
    if not events:
        return False
    first = events[0]
    same = all(e.project_key == first.project_key and e.resource_type == "customer" for e in events)
    distinct = len({e.resource_id for e in events}) == len(events)
    return same and distinct and len({e.dedupe_key for e in events}) == len(events)


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False)


def _lock_identities(
    conn: Conn, events: Sequence[CtEvent], project: str, now: float
) -> dict[str, _Identity]:
    ids = json.dumps([e.resource_id for e in events], ensure_ascii=False)
    rows = conn.all("lock_identities", project_key=project, ids=ids, now=now)
    found = {}
    for row in rows:
        state = IdentityState.from_json(json.loads(row["state"])) if row["state"] else None
        found[row["customer_id"]] = _Identity(state, bool(row["waiting"]))
    return found


def _insert_events(
    conn: Conn, events: Sequence[CtEvent], plans: Sequence[Plan], now: float
) -> dict[str, int]:
    """Insert the events with their planned outcome; the ids of the new ones by dedupe key."""
    rows = [
        {
            "dedupe_key": e.dedupe_key,
            "envelope": e.envelope,
            "kind": e.kind,
            "type": e.type,
            "project_key": e.project_key,
            "resource_type": e.resource_type,
            "resource_id": e.resource_id,
            "resource_version": e.resource_version,
            "message_id": e.message_id,
            "created_at": e.created_at,
            "status": p.status,
            "reason": p.reason,
            "user_id": p.user_id,
            "payload": json.dumps(e.payload, separators=(",", ":")),
        }
        for e, p in zip(events, plans, strict=True)
    ]
    inserted = conn.all("insert_events", rows=_json(rows), now=now)
    return {r["dedupe_key"]: int(r["id"]) for r in inserted}


def _queue_messages(
    conn: Conn,
    events: Sequence[CtEvent],
    plans: Sequence[Plan],
    ids: dict[str, int],
    *,
    now: float,
    horizon_s: float,
) -> dict[int, tuple[str, ...]]:
    """Queue every new event's messages; per event id, the message ids that were new."""
    rows = []
    planned: dict[int, tuple[str, ...]] = {}
    for event, plan in zip(events, plans, strict=True):
        event_id = ids.get(event.dedupe_key)
        if event_id is None:
            continue
        fanned = _message_rows(event, event_id, plan, now=now, horizon_s=horizon_s)
        planned[event_id] = tuple(row["message_id"] for row in fanned)
        for position, row in enumerate(fanned):
            rows.append(
                {
                    "event_id": event_id,
                    "message_id": row["message_id"],
                    "order_key": row["order_key"],
                    "type": row["type"],
                    "user_id": row["user_id"],
                    "body": row["body"],
                    "status": row["status"],
                    "error": row["error"],
                    "position": position,
                    "mapping_version": row["mapping_version"],
                    "destination": row["destination"],
                }
            )
    if not rows:
        return {}
    new = conn.all(
        "insert_messages", rows=_json(rows), now=now, step=_STEP, deadline=now + horizon_s
    )
    mine: dict[int, set[str]] = {}
    for row in new:
        mine.setdefault(int(row["event_id"]), set()).add(row["message_id"])
    return {
        event_id: tuple(m for m in mids if m in mine.get(event_id, set()))
        for event_id, mids in planned.items()
    }


def _store_identities(
    conn: Conn, project: str, stored: list[tuple[CtEvent, Plan]], now: float
) -> None:
    rows = [
        {
            "customer_id": e.resource_id,
            "user_id": p.state.user_id,
            "state": json.dumps(p.state.to_json(), separators=(",", ":")),
            "deleted": int(p.state.deleted),
        }
        for e, p in stored
        if p.state is not None
    ]
    if rows:
        conn.run("put_identities", project_key=project, rows=_json(rows), now=now)
