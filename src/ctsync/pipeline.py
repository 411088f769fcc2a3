"""Record one commercetools event: store it, map it, queue its messages.

All of it happens in one store transaction, so an event is either fully
recorded (with its outbox rows and the updated identity) or not at all, and a
redelivery finds it by its dedupe key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ctsync.ingress import parse_ct_payload, unwrap
from ctsync.ingress._model import CtEvent
from ctsync.mapping import IdentityState, MappingOptions, Plan, plan_event
from ctsync.sinks import validate_message
from ctsync.store import Conn

__all__ = [
    "Planner",
    "RecordResult",
    "default_planner",
    "dry_run",
    "record_event",
    "record_rejected",
]

Planner = Callable[[CtEvent, IdentityState | None], Plan]
RecordStatus = Literal["accepted", "duplicate", "ignored", "stale", "waiting", "failed", "rejected"]


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What the webhook tells the sender about one event."""

    status: RecordStatus
    event_id: int | None
    message_ids: tuple[str, ...] = ()
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "eventId": self.event_id}
        if self.message_ids:
            out["messageIds"] = list(self.message_ids)
        if self.reason:
            out["reason"] = self.reason
        return out


def default_planner(options: MappingOptions | None = None) -> Planner:
    """The mapping stage with the given options."""
    opts = options or MappingOptions()
    return lambda event, state: plan_event(event, state, opts)


def dry_run(data: Any, planner: Planner) -> list[dict[str, Any]]:
    """What a delivery body would produce, for customers seen fresh; nothing is stored.

    The one implementation behind ``ctsync transform`` and ``POST /api/admin/transform``.
    Raises InputError when the body is no delivery at all.
    """
    unwrapped = unwrap(data, {})
    if unwrapped.reply is not None:
        return [
            {
                "status": "handshake",
                "reason": "a handshake: answered, nothing mapped",
                "messages": [],
            }
        ]
    results: list[dict[str, Any]] = []
    for item in unwrapped.items:
        if item.error:
            results.append({"status": "rejected", "reason": item.error, "messages": []})
            continue
        plan = planner(parse_ct_payload(item.payload, envelope=item.envelope), None)
        results.append(
            {
                "status": plan.status,
                "reason": plan.reason,
                "messages": [m.body for m in plan.messages],
            }
        )
    return results


def record_event(
    conn: Conn, event: CtEvent, *, planner: Planner, now: float, horizon_s: float
) -> RecordResult:
    """Store ``event`` once; map it and queue its messages in the same transaction."""
    event_id = _insert_event(conn, event, now=now, status="received")
    if event_id is None:
        existing = conn.one("event_by_dedupe_key", dedupe_key=event.dedupe_key)
        return RecordResult(
            "duplicate",
            existing["id"] if existing else None,
            reason=f"already recorded ({existing['status'] if existing else 'unknown'})",
        )
    result, knew_identity = _apply(
        conn, event, event_id, "received", planner=planner, now=now, horizon_s=horizon_s
    )
    if result.status == "accepted" and not knew_identity:
        # Deltas wait only while the customer's identity is unknown: look for them
        # just when this event is the one that made it known.
        _release_waiting(conn, event, planner=planner, now=now, horizon_s=horizon_s)
    return result


def record_rejected(conn: Conn, event: CtEvent, *, reason: str, now: float) -> RecordResult:
    """Keep a delivery that can never be processed, with its reason (cloud envelopes)."""
    event_id = _insert_event(conn, event, now=now, status="rejected", reason=reason)
    if event_id is None:
        return RecordResult("duplicate", None, reason="already recorded")
    return RecordResult("rejected", event_id, reason=reason)


def _insert_event(
    conn: Conn, event: CtEvent, *, now: float, status: str, reason: str | None = None
) -> int | None:
    row = conn.one(
        "insert_event",
        dedupe_key=event.dedupe_key,
        received_at=now,
        envelope=event.envelope,
        kind=event.kind,
        type=event.type,
        project_key=event.project_key,
        resource_type=event.resource_type,
        resource_id=event.resource_id,
        resource_version=event.resource_version,
        message_id=event.message_id,
        created_at=event.created_at,
        status=status,
        reason=reason,
        user_id=None,
        payload=json.dumps(event.payload, separators=(",", ":")),
    )
    return None if row is None else int(row["id"])


def _apply(
    conn: Conn,
    event: CtEvent,
    event_id: int,
    current: str,
    *,
    planner: Planner,
    now: float,
    horizon_s: float,
) -> tuple[RecordResult, bool]:
    """Map one stored event and queue its messages; also says if its customer was known."""
    state = _load_identity(conn, event, now) if event.resource_type == "customer" else None
    plan = planner(event, state)
    queued = []
    for position, msg in enumerate(plan.messages):
        # Checked here, once: Segment answers 200 and drops such a message later.
        problem = validate_message(msg.body)
        changed = conn.run(
            "insert_message",
            event_id=event_id,
            message_id=msg.message_id,
            order_key=_order_key(event),
            type=msg.type,
            user_id=msg.user_id,
            body=json.dumps(msg.body, separators=(",", ":"), ensure_ascii=False),
            now=now + position * 1e-6,
            deadline=now + horizon_s,
            status="dead" if problem else "pending",
            error=f"invalid message: {problem}" if problem else None,
            finished_at=now if problem else None,
        )
        if changed:
            queued.append(msg.message_id)
    if plan.state is not None:
        _store_identity(conn, event, plan.state, now)
    status: RecordStatus = plan.status
    reason = plan.reason
    if status == "accepted" and plan.messages and not queued:
        status, reason = "duplicate", "every message of this event was already queued"
    conn.run(
        "set_event_status",
        id=event_id,
        expected=current,
        status=status,
        reason=reason,
        user_id=plan.user_id,
    )
    return RecordResult(status, event_id, tuple(queued), reason), bool(state and state.user_id)


def _release_waiting(
    conn: Conn, event: CtEvent, *, planner: Planner, now: float, horizon_s: float
) -> None:
    """A snapshot gave the customer an identity: deltas that waited for it go now."""
    rows = conn.all("waiting_events", project_key=event.project_key, resource_id=event.resource_id)
    for row in rows:
        _apply(
            conn,
            _event_from_row(row),
            row["id"],
            "waiting",
            planner=planner,
            now=now,
            horizon_s=horizon_s,
        )


def _order_key(event: CtEvent) -> str:
    """Messages of one resource are delivered in order; others in parallel."""
    return f"{event.project_key}:{event.resource_id}"


def _load_identity(conn: Conn, event: CtEvent, now: float) -> IdentityState | None:
    row = conn.one(
        "lock_identity", project_key=event.project_key, customer_id=event.resource_id, now=now
    )
    if row is None or row["state"] is None:
        return None
    return IdentityState.from_json(json.loads(row["state"]))


def _store_identity(conn: Conn, event: CtEvent, state: IdentityState, now: float) -> None:
    conn.run(
        "put_identity",
        project_key=event.project_key,
        customer_id=event.resource_id,
        user_id=state.user_id,
        state=json.dumps(state.to_json(), separators=(",", ":")),
        deleted=int(state.deleted),
        now=now,
    )


def _event_from_row(row: dict[str, Any]) -> CtEvent:
    return CtEvent(
        kind=row["kind"],
        type=row["type"],
        project_key=row["project_key"],
        resource_type=row["resource_type"],
        resource_id=row["resource_id"],
        resource_version=row["resource_version"],
        message_id=row["message_id"],
        created_at=row["created_at"],
        dedupe_key=row["dedupe_key"],
        payload=json.loads(row["payload"]) if row["payload"] else {},
        envelope=row["envelope"],
    )
