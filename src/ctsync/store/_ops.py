"""The store's verbs: every read and state change the pipeline and delivery make.

Each state change names the status it expects in its WHERE clause and checks
how many rows it changed (procrastinate's habit), so a lost lease or a double
replay shows instead of passing silently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ctsync.errors import StoreError
from ctsync.store._base import Conn, Row


@dataclass(frozen=True, slots=True)
class Claimed:
    """An outbox row leased to one drainer."""

    id: int
    message_id: str
    type: str
    user_id: str
    body: str  # the message as compact JSON, exactly as it will be sent
    attempts: int
    created_at: float
    deadline: float
    event_id: int | None

    @property
    def message(self) -> dict[str, Any]:
        """The message decoded (for inspection; delivery sends ``body`` as it is)."""
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one claimed message after a send attempt."""

    id: int
    result: str  # delivered | captured | dead | retry | released
    status_code: int | None = None
    latency_ms: float | None = None
    detail: str | None = None
    next_attempt_at: float | None = None


def claim(
    conn: Conn,
    *,
    owner: str,
    now: float,
    lease_s: float,
    limit: int,
    destination: str = "default",
) -> list[Claimed]:
    """Lease up to ``limit`` due messages of one destination, one per customer at a time."""
    rows = conn.all(
        "claim",
        owner=owner,
        now=now,
        lease_until=now + lease_s,
        limit=limit,
        destination=destination,
    )
    rows.sort(key=lambda r: r["id"])
    return [
        Claimed(
            id=r["id"],
            message_id=r["message_id"],
            type=r["type"],
            user_id=r["user_id"],
            body=r["body"],
            attempts=r["attempts"],
            created_at=r["created_at"],
            deadline=r["deadline"],
            event_id=r["event_id"],
        )
        for r in rows
    ]


def renew_leases(conn: Conn, *, owner: str, now: float, lease_s: float) -> int:
    """Extend the lease of every message ``owner`` still holds; how many it holds."""
    return conn.run("renew_leases", owner=owner, lease_until=now + lease_s)


def settle(conn: Conn, *, owner: str, now: float, outcomes: Sequence[Outcome]) -> int:
    """Record attempt outcomes; returns how many rows were no longer ours (lease lost).

    A batch's finished messages and its attempts are one statement each (their rows
    passed as one JSON array), so a hundred messages cost two statements, not two
    hundred; retries and releases, rarer, run once per row.
    """
    finished = [
        {"id": o.id, "status": o.result, "error": o.detail if o.result == "dead" else None}
        for o in outcomes
        if o.result in {"delivered", "captured", "dead"}
    ]
    retried = [
        {"id": o.id, "owner": owner, "next_attempt_at": o.next_attempt_at, "error": o.detail}
        for o in outcomes
        if o.result == "retry"
    ]
    released = [{"id": o.id, "owner": owner} for o in outcomes if o.result == "released"]
    changed = 0
    if finished:
        changed += conn.run("finish_messages", rows=_json(finished), owner=owner, now=now)
    for query, rows in (("reschedule_message", retried), ("release_message", released)):
        if rows:
            changed += conn.many(query, rows)
    attempts = [
        {
            "outbox_id": o.id,
            "outcome": o.result,
            "status_code": o.status_code,
            "latency_ms": o.latency_ms,
            "detail": o.detail,
        }
        for o in outcomes
        if o.result != "released"
    ]
    if attempts:
        conn.run("insert_attempts", rows=_json(attempts), at=now)
    return len(finished) + len(retried) + len(released) - changed


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False)


def replay(conn: Conn, *, ids: Sequence[int] | None, now: float, horizon_s: float) -> int:
    """Put dead letters back in the outbox (all of them when ``ids`` is None)."""
    targets = ids if ids is not None else [r["id"] for r in conn.all("dead_ids")]
    return sum(conn.run("replay_message", id=i, now=now, deadline=now + horizon_s) for i in targets)


def discard(conn: Conn, *, ids: Sequence[int], now: float) -> int:
    """Give up on dead letters for good (kept, marked discarded, purged with retention)."""
    return sum(conn.run("discard_message", id=i, now=now) for i in ids)


def purge(conn: Conn, *, before: float) -> dict[str, int]:
    """Remove personal data older than the retention period (dead letters stay)."""
    return {
        "attempts": conn.run("purge_attempts", before=before),
        "messages": conn.run("purge_messages", before=before),
        "payloads": conn.run("purge_payloads", before=before),
        "identities": conn.run("purge_deleted_identities", before=before),
    }


def counts(conn: Conn) -> dict[str, dict[str, int]]:
    """Messages and events by status."""
    return {
        "messages": {r["status"]: int(r["n"]) for r in conn.all("counts")},
        "events": {r["status"]: int(r["n"]) for r in conn.all("event_counts")},
    }


def last_sink_answer(conn: Conn) -> Row | None:
    """The sink's most recent HTTP answer (time and status code), from any drainer."""
    return conn.one("last_sink_answer")


def next_due(conn: Conn) -> float | None:
    """When the earliest pending message is due (None when nothing is pending)."""
    row = conn.one("next_due")
    return None if row is None or row["due"] is None else float(row["due"])


def take_tokens(conn: Conn, *, name: str, rate: float, want: int, now: float) -> float:
    """Shared token bucket: take ``want`` tokens, or say how long to wait for them."""
    capacity = max(rate, float(want))
    # Create the bucket first, so that concurrent drainers lock the same row.
    conn.run("init_rate", name=name, tokens=capacity, now=now)
    row = conn.one("get_rate", name=name)
    if row is None:
        msg = f"rate limit bucket {name!r} vanished"
        raise StoreError(msg)
    refill = float(row["tokens"]) + max(0.0, now - float(row["updated_at"])) * rate
    tokens = min(capacity, refill)
    if tokens >= want:
        conn.run("put_rate", name=name, tokens=tokens - want, now=now)
        return 0.0
    conn.run("put_rate", name=name, tokens=tokens, now=now)
    return (want - tokens) / rate


def event_detail(conn: Conn, event_id: int) -> Row | None:
    """One event with its messages and every attempt of each."""
    event = conn.one("get_event", id=event_id)
    if event is None:
        return None
    messages = conn.all("messages_of_event", event_id=event_id)
    for m in messages:
        m["body"] = json.loads(m["body"])
        m["attempts_log"] = conn.all("attempts_of_message", outbox_id=m["id"])
    event["payload"] = json.loads(event["payload"]) if event["payload"] else None
    event["messages"] = messages
    return event


def list_events(
    conn: Conn,
    *,
    status: str | None = None,
    resource_id: str | None = None,
    user_id: str | None = None,
    limit: int = 50,
) -> list[Row]:
    """Newest events first, optionally filtered."""
    return conn.all(
        "list_events", status=status, resource_id=resource_id, user_id=user_id, limit=limit
    )


def list_messages(conn: Conn, *, status: str | None = None, limit: int = 50) -> list[Row]:
    """Newest outbox rows first, optionally by status (``dead`` = the dead-letter queue)."""
    rows = conn.all("list_messages", status=status, limit=limit)
    for r in rows:
        r["body"] = json.loads(r["body"])
    return rows
