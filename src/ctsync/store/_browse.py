"""The dashboard's reads and repairs: search, timelines, throughput, replay by filter.

Kept apart from ``_ops`` (the pipeline's verbs): these serve people looking at
the flow, so they favour filters and readable shapes over speed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ctsync.store._base import Conn, Row
from ctsync.store._ops import event_detail

_REPLAY_NS = uuid.UUID("6b1f1c57-2f43-4f0e-9a57-52e3d1c0a7e1")


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What the events list is narrowed to; every field optional."""

    status: str | None = None
    customer: str | None = None
    order_id: str | None = None
    user_id: str | None = None
    type: str | None = None
    since: float | None = None
    until: float | None = None
    before: int | None = None  # keyset paging: events with a smaller id


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which finished messages a replay by filter puts back in the outbox."""

    customer: str | None = None
    user_id: str | None = None
    since: float | None = None
    until: float | None = None
    status: str | None = None  # delivered | captured | dead | discarded; None: all four

    @property
    def empty(self) -> bool:
        """No filter at all: a replay of everything, which the callers refuse."""
        return not (self.customer or self.user_id or self.since or self.until or self.status)


def retention_note(f: ReplayFilter, *, retention_days: float, now: float) -> str | None:
    """Why fewer messages may match than were sent: retention purged the older ones."""
    if f.since is not None and f.since >= now - retention_days * 86400:
        return None
    return (
        "the range reaches past the retention period "
        f"(CTSYNC_RETENTION_DAYS={retention_days:g}): delivered messages older than that "
        "were purged and cannot be replayed; dead letters stay until replayed or "
        "discarded. A backfill re-sends current profiles."
    )


def search_events(conn: Conn, f: EventFilter, *, limit: int = 50) -> list[Row]:
    """Newest events first that match ``f``."""
    return conn.all(
        "search_events",
        status=f.status,
        customer=f.customer,
        order_id=f.order_id,
        user_id=f.user_id,
        type=f.type,
        since=f.since,
        until=f.until,
        before=f.before,
        limit=limit,
    )


def event_types(conn: Conn) -> list[str]:
    """The message types seen so far (for the search form)."""
    return [r["type"] for r in conn.all("event_types")]


def timeline(conn: Conn, event_id: int) -> Row | None:
    """One event as a sequence of steps: received, mapped, each attempt, the outcome."""
    event = event_detail(conn, event_id)
    if event is None:
        return None
    steps: list[Row] = [
        {
            "at": event["received_at"],
            "step": "received",
            "detail": f"{event['envelope']} envelope, {event['type']}",
        }
    ]
    if event["messages"]:
        calls = ", ".join(_call(m) for m in event["messages"])
        steps.append({"at": event["received_at"], "step": "mapped", "detail": calls})
    else:
        steps.append(
            {"at": event["received_at"], "step": event["status"], "detail": event["reason"]}
        )
    for m in event["messages"]:
        steps.extend(
            {
                "at": a["at"],
                "step": a["outcome"],
                "message_id": m["message_id"],
                "status_code": a["status_code"],
                "latency_ms": a["latency_ms"],
                "detail": a["detail"],
            }
            for a in m["attempts_log"]
        )
        last = m["attempts_log"][-1]["outcome"] if m["attempts_log"] else None
        if m["status"] in {"delivered", "captured", "dead", "discarded"} and last != m["status"]:
            steps.append(
                {
                    "at": m["finished_at"],
                    "step": m["status"],
                    "message_id": m["message_id"],
                    "detail": m["last_error"],
                }
            )
    steps.sort(key=lambda s: s["at"] or 0.0)
    event["timeline"] = steps
    return event


def _call(message: Row) -> str:
    """One planned call: its type and messageId, the mapping version and destination."""
    text = f"{message['type']} {message['message_id']}"
    if message.get("mapping_version"):
        text += f" (mapping {message['mapping_version']})"
    if message.get("destination") not in (None, "default"):
        text += f" to {message['destination']}"
    return text


def throughput(conn: Conn, *, since: float, step: float, buckets: int) -> dict[str, list[int]]:
    """Received, delivered, failed (retried) and dead per time bucket since ``since``."""
    series = {k: [0] * buckets for k in ("received", "delivered", "failed", "dead")}

    def add(name: str, b: Any, n: Any) -> None:
        if b is not None and 0 <= int(b) < buckets:
            series[name][int(b)] += int(n)

    for r in conn.all("received_buckets", since=since, step=step):
        add("received", r["b"], r["n"])
    for r in conn.all("finished_buckets", since=since, step=step):
        if r["status"] in {"delivered", "captured"}:
            add("delivered", r["b"], r["n"])
        elif r["status"] == "dead":
            add("dead", r["b"], r["n"])
    for r in conn.all("retry_buckets", since=since, step=step):
        add("failed", r["b"], r["n"])
    return series


def outbox_health(conn: Conn, *, now: float) -> dict[str, float | int | None]:
    """Pending messages, and how long the oldest due one has waited (seconds)."""
    row = conn.one("outbox_health", now=now) or {}
    oldest = row.get("oldest_due")
    return {
        "depth": int(row.get("depth") or 0),
        "oldestDueAgeS": None if oldest is None else max(0.0, now - float(oldest)),
    }


def dead_groups(conn: Conn) -> list[Row]:
    """Dead letters grouped by reason, the largest group first."""
    return conn.all("dead_groups")


def dead_of_reason(conn: Conn, reason: str, *, limit: int = 200) -> list[Row]:
    """The dead letters that share one reason."""
    return conn.all("dead_of_reason", reason=reason, limit=limit)


def dead_ids_of_reason(conn: Conn, reason: str) -> list[int]:
    """Ids of every dead letter with this reason (for "replay all of a reason")."""
    return [int(r["id"]) for r in conn.all("dead_ids_of_reason", reason=reason)]


def replay_targets(conn: Conn, f: ReplayFilter) -> list[Row]:
    """The finished messages a replay by filter would queue again."""
    return conn.all(
        "replay_targets",
        status=f.status,
        user_id=f.user_id,
        customer=f.customer,
        since=f.since,
        until=f.until,
    )


def overtaken(conn: Conn, rows: Sequence[Row], *, limit: int = 500) -> int:
    """How many customers among ``rows`` have a newer message outside them.

    Replaying only older messages sends older traits after newer ones, and Segment
    keeps what arrives last. (Counted for the first ``limit`` customers.)
    """
    newest: dict[str, int] = {}
    for r in rows:
        newest[r["order_key"]] = max(newest.get(r["order_key"], 0), int(r["id"]))
    count = 0
    for key, top in list(newest.items())[:limit]:
        found = conn.one("latest_of_key", order_key=key)
        if found and found["id"] is not None and int(found["id"]) > top:
            count += 1
    return count


def overtaken_note(customers: int) -> str | None:
    """The warning when a replay would send older traits after newer ones."""
    if not customers:
        return None
    return (
        f"{customers} customer(s) have newer messages outside this replay: their older "
        "traits would reach Segment after the newer ones (Segment keeps what arrives "
        "last). Extend the range to the present, or replay by customer."
    )


def requeue(
    conn: Conn,
    rows: Sequence[Row],
    *,
    now: float,
    horizon_s: float,
    new_ids: bool = False,
    why: str = "replayed",
) -> int:
    """Queue finished messages again, attempts reset; returns how many were queued.

    With ``new_ids`` each gets a fresh messageId (Segment drops a messageId it has
    seen in the last day or more), otherwise the original one is kept.
    """
    done = 0
    for r in rows:
        message_id, body = r["message_id"], r["body"]
        if new_ids:
            message_id = str(uuid.uuid5(_REPLAY_NS, f"{message_id}:{now!r}"))
            decoded = json.loads(body)
            decoded["messageId"] = message_id
            body = json.dumps(decoded, separators=(",", ":"), ensure_ascii=False)
        changed = conn.run(
            "requeue_message",
            id=r["id"],
            now=now,
            deadline=now + horizon_s,
            message_id=message_id,
            body=body,
        )
        if changed:
            detail = why if message_id == r["message_id"] else f"{why} as {message_id}"
            conn.run("mark_replayed", id=r["id"], now=now, detail=detail)
            done += 1
    return done


def rows_by_id(conn: Conn, ids: Sequence[int]) -> list[Row]:
    """Outbox rows (id, message_id, body) for the given ids, in id order."""
    found = [conn.one("outbox_row", id=i) for i in sorted(set(ids))]
    return [r for r in found if r is not None]
