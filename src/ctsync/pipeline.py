"""Record one commercetools event: store it, map it, queue its messages.

All of it happens in one store transaction, so an event is either fully
recorded (with its outbox rows and the updated identity) or not at all, and a
redelivery finds it by its dedupe key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from ctsync.ingress import parse_ct_payload, unwrap
from ctsync.ingress._model import CtEvent
from ctsync.mapping import IdentityState, MappingOptions, Plan, plan_event
from ctsync.plans import buyer_state, fan_out, request_regulation, transformed
from ctsync.plugins import TRANSFORMS_GROUP, load_plugin
from ctsync.sinks import validate_message
from ctsync.store import Conn, storable_text

__all__ = [
    "Planner",
    "RecordResult",
    "RecordStatus",
    "buyer_state",
    "default_planner",
    "dry_run",
    "event_from_row",
    "record_event",
    "record_rejected",
]

Planner = Callable[[CtEvent, IdentityState | None], Plan]
RecordStatus = Literal[
    "accepted", "duplicate", "ignored", "stale", "waiting", "failed", "rejected", "fetching"
]


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
    """The mapping stage with the given options, then the transforms they name."""
    opts = options or MappingOptions()
    if not opts.transforms:
        return lambda event, state: plan_event(event, state, opts)
    transforms = [load_plugin(TRANSFORMS_GROUP, name) for name in opts.transforms]
    return lambda event, state: transformed(plan_event(event, state, opts), transforms)


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
        plan = _plan(planner, parse_ct_payload(item.payload, envelope=item.envelope), None)
        results.append(
            {
                "status": plan.status,
                "reason": plan.reason,
                "messages": [m.body for m in plan.messages],
            }
        )
    return results


def record_event(
    conn: Conn,
    event: CtEvent,
    *,
    planner: Planner,
    now: float,
    horizon_s: float,
    regulation_type: str | None = None,
) -> RecordResult:
    """Store ``event`` once with its outcome; queue its messages in the same transaction.

    The event is mapped before it is inserted, so its row is written once with
    its final status: a new customer's first event costs four statements (lock
    the identity, insert the event, queue the messages, store the identity).
    """
    kept = event.resource_type in _KEPT_RESOURCES
    identity = _lock_identity(conn, event, now) if kept else None
    state = identity.state if identity else None
    if state is None and event.resource_type == "order":
        state = buyer_state(conn, event)
    plan = _plan(planner, event, state)
    event_id = _insert_event(
        conn, event, now=now, status=plan.status, reason=plan.reason, user_id=plan.user_id
    )
    if event_id is None:
        return _duplicate(conn, event)
    result = _commit_plan(
        conn, event, event_id, plan, recorded=plan.status, now=now, horizon_s=horizon_s
    )
    if regulation_type:
        request_regulation(conn, event, plan, regulation_type, now)
    if result.status == "accepted" and identity is not None and identity.releases_waiting:
        _release_waiting(
            conn,
            event,
            planner=planner,
            now=now,
            horizon_s=horizon_s,
            regulation_type=regulation_type,
        )
    return result


def _duplicate(conn: Conn, event: CtEvent) -> RecordResult:
    """An event recorded before: the id and status it was kept with."""
    existing = conn.one("event_by_dedupe_key", dedupe_key=event.dedupe_key)
    return RecordResult(
        "duplicate",
        existing["id"] if existing else None,
        reason=f"already recorded ({existing['status'] if existing else 'unknown'})",
    )


_KEPT_RESOURCES = frozenset({"customer", "order"})
"""Resources with an identity row: a customer's traits; an order's buyer, for its state changes."""


_MAX_USER_ID_BYTES = 320  # the longest email address (RFC 5321: 64 + 1 + 255)


def _plan(planner: Planner, event: CtEvent, state: IdentityState | None) -> Plan:
    """The planner's plan, failed when a userId in it cannot be one.

    userIds (the email) are kept and indexed as text: a NUL can never be stored,
    and PostgreSQL cannot index a very long value; neither is an email a CDP
    should get. The event is recorded as failed, with the reason, instead.
    """
    plan = planner(event, state)
    ids = [plan.user_id, *(m.user_id for m in plan.messages)]
    ids += [plan.state.user_id] if plan.state is not None else []
    for user_id in filter(None, ids):
        if "\x00" in user_id:
            reason = "the customer's email holds a NUL character (\\u0000): not a usable userId"
            return Plan("failed", reason=reason)
        if len(user_id.encode("utf-8", "surrogatepass")) > _MAX_USER_ID_BYTES:
            reason = f"the customer's email is longer than {_MAX_USER_ID_BYTES} bytes"
            return Plan("failed", reason=reason)
    if plan.reason is not None and (clean := storable_text(plan.reason)) != plan.reason:
        return replace(plan, reason=clean)  # a reason may quote the delivery
    return plan


def record_rejected(conn: Conn, event: CtEvent, *, reason: str, now: float) -> RecordResult:
    """Keep a delivery that can never be processed, with its reason (cloud envelopes)."""
    reason = storable_text(reason)
    event_id = _insert_event(conn, event, now=now, status="rejected", reason=reason)
    if event_id is None:
        return RecordResult("duplicate", None, reason="already recorded")
    return RecordResult("rejected", event_id, reason=reason)


def _insert_event(
    conn: Conn,
    event: CtEvent,
    *,
    now: float,
    status: str,
    reason: str | None = None,
    user_id: str | None = None,
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
        user_id=user_id,
        payload=json.dumps(event.payload, separators=(",", ":")),
    )
    return None if row is None else int(row["id"])


def _commit_plan(
    conn: Conn,
    event: CtEvent,
    event_id: int,
    plan: Plan,
    *,
    recorded: str,
    now: float,
    horizon_s: float,
) -> RecordResult:
    """Queue a stored event's messages and keep its customer's new state.

    ``recorded`` is the status its row holds now; the row is updated only when
    the outcome differs from it.
    """
    queued = _queue_messages(conn, event, event_id, plan, now=now, horizon_s=horizon_s)
    if plan.state is not None:
        _store_identity(conn, event, plan.state, now)
    return _settle(conn, event, event_id, plan, queued, recorded=recorded)


def _settle(
    conn: Conn,
    event: CtEvent,
    event_id: int,
    plan: Plan,
    queued: tuple[str, ...],
    *,
    recorded: str,
) -> RecordResult:
    """The stored event's final status, written when it differs from ``recorded``."""
    status: RecordStatus = plan.status
    reason = plan.reason
    if status == "accepted" and plan.messages and not queued:
        status, reason = "duplicate", "every message of this event was already queued"
    if status == "waiting":
        _set_waiting(conn, event, waiting=True)
    if status != recorded or reason != plan.reason:
        conn.run(
            "set_event_status",
            id=event_id,
            expected=recorded,
            status=status,
            reason=reason,
            user_id=plan.user_id,
        )
    return RecordResult(status, event_id, queued, reason)


def _queue_messages(
    conn: Conn, event: CtEvent, event_id: int, plan: Plan, *, now: float, horizon_s: float
) -> tuple[str, ...]:
    """Insert the plan's messages into the outbox; the ids of those that were new."""
    rows = _message_rows(event, event_id, plan, now=now, horizon_s=horizon_s)
    if not rows:
        return ()
    ids = tuple(row["message_id"] for row in rows)
    if conn.many("insert_message", rows) == len(rows):
        return ids
    # Some were queued before (by another event with the same message ids): say which are new.
    mine = {row["message_id"] for row in conn.all("event_message_ids", event_id=event_id)}
    return tuple(i for i in ids if i in mine)


def _message_rows(
    event: CtEvent, event_id: int, plan: Plan, *, now: float, horizon_s: float
) -> list[dict[str, Any]]:
    """The outbox rows of a stored event's plan, one per destination (invalid ones dead)."""
    rows = []
    for position, (destination, msg) in enumerate(fan_out(plan)):
        body = json.dumps(msg.body, separators=(",", ":"), ensure_ascii=False)
        # Checked here, once: Segment answers 200 and drops such a message later.
        problem = validate_message(msg.body, size=len(body.encode()))
        rows.append(
            {
                "event_id": event_id,
                "message_id": msg.message_id,
                "order_key": _order_key(event),
                "type": msg.type,
                "user_id": msg.user_id,
                "body": body,
                "now": now + position * 1e-6,
                "deadline": now + horizon_s,
                "status": "dead" if problem else "pending",
                "error": f"invalid message: {problem}" if problem else None,
                "finished_at": now if problem else None,
                "mapping_version": plan.mapping_version,
                "destination": destination,
            }
        )
    return rows


def _release_waiting(
    conn: Conn,
    event: CtEvent,
    *,
    planner: Planner,
    now: float,
    horizon_s: float,
    regulation_type: str | None,
) -> None:
    """A snapshot gave the customer an identity: deltas that waited for it go now."""
    _set_waiting(conn, event, waiting=False)
    rows = conn.all("waiting_events", project_key=event.project_key, resource_id=event.resource_id)
    for row in rows:
        waiting = event_from_row(row)
        identity = _lock_identity(conn, waiting, now)
        plan = _plan(planner, waiting, identity.state)
        _commit_plan(
            conn, waiting, row["id"], plan, recorded="waiting", now=now, horizon_s=horizon_s
        )
        if regulation_type:
            request_regulation(conn, waiting, plan, regulation_type, now)


def _set_waiting(conn: Conn, event: CtEvent, *, waiting: bool) -> None:
    conn.run(
        "set_identity_waiting",
        project_key=event.project_key,
        customer_id=event.resource_id,
        waiting=int(waiting),
    )


def _order_key(event: CtEvent) -> str:
    """Messages of one resource are delivered in order; others in parallel."""
    return f"{event.project_key}:{event.resource_id}"


@dataclass(frozen=True, slots=True)
class _Identity:
    """A customer's identity row, locked for this transaction."""

    state: IdentityState | None
    waiting: bool  # deltas of theirs wait for a snapshot

    @property
    def releases_waiting(self) -> bool:
        """Waiting deltas go once an event makes the customer's identity known."""
        return self.waiting and not (self.state and self.state.user_id)


def _lock_identity(conn: Conn, event: CtEvent, now: float) -> _Identity:
    row = conn.one(
        "lock_identity", project_key=event.project_key, customer_id=event.resource_id, now=now
    )
    if row is None or row["state"] is None:
        return _Identity(None, bool(row and row["waiting"]))
    return _Identity(IdentityState.from_json(json.loads(row["state"])), bool(row["waiting"]))


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


def event_from_row(row: dict[str, Any]) -> CtEvent:
    """The stored event as the parser made it (sequenceNumber included: it is in the
    messageId of a delta, so a released waiting delta keeps the id it would have had)."""
    payload = json.loads(row["payload"]) if row["payload"] else {}
    sequence = payload.get("sequenceNumber") if isinstance(payload, dict) else None
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
        payload=payload,
        sequence_number=sequence if type(sequence) is int else None,
        envelope=row["envelope"],
    )
