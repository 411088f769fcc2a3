"""Replay stored events through another mapping and show what it would send differently.

Nothing is sent and nothing is stored: each customer's (or order's) stored
history is planned again, in the order it was recorded, with a state that
evolves under the new mapping, and each event's new calls are compared with
the outbox messages the old mapping queued for it.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ctsync import __version__
from ctsync.errors import InputError
from ctsync.ingress import parse_ct_payload
from ctsync.ingress._model import CtEvent
from ctsync.mapping import IdentityState, MappingOptions, Plan
from ctsync.mapping._types import DEFAULT_DESTINATION
from ctsync.pipeline import Planner, buyer_state, event_from_row
from ctsync.store import Conn

__all__ = [
    "DiffReport",
    "compare_calls",
    "diff_mapping",
    "full_traits",
    "resend_changed",
]

_NO_LIMIT = 1_000_000
_REMAP = uuid.UUID("5d1c3c5e-2f7a-5b8e-9a43-2b8f6c1e7d10")  # fixed: ids of resent Identifies


@dataclass
class DiffReport:
    """The events replayed, and for each that would change, how."""

    mapping_version: str | None
    replayed: int = 0
    unchanged: int = 0
    changed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "mapping": self.mapping_version,
            "replayed": self.replayed,
            "unchanged": self.unchanged,
            "changed": self.changed,
            "skipped": self.skipped,
        }


def diff_mapping(
    conn: Conn,
    planner: Planner,
    *,
    version: str | None,
    last: int | None = None,
    since: float | None = None,
) -> DiffReport:
    """Compare, per stored event (the last ``last``, or since ``since``), old and new calls."""
    rows = conn.all("recent_events", since=since or 0.0, limit=last or _NO_LIMIT)
    rows.reverse()
    report = DiffReport(version)
    plans = _replay_histories(conn, planner, rows)
    for row in rows:
        plan = plans.get(row["id"])
        if plan is None:
            report.skipped.append(_skipped(row))
            continue
        report.replayed += 1
        sent = _one_destination(conn.all("messages_of_event", event_id=row["id"]))
        calls = compare_calls(
            [json.loads(m["body"]) for m in sent], [m.body for m in plan.messages]
        )
        if not calls and plan.status == row["status"]:
            report.unchanged += 1
            continue
        report.changed.append(
            {
                "eventId": row["id"],
                "type": row["type"],
                "resourceId": row["resource_id"],
                "status": {"was": row["status"], "would": plan.status},
                "sentBy": sorted({m["mapping_version"] or "unknown" for m in sent}),
                "calls": calls,
            }
        )
    return report


def _one_destination(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages of one destination: the default, else the first.

    A route's other destinations carry the same calls under their own messageIds.
    """
    if not sent:
        return sent
    names = {m["destination"] for m in sent}
    keep = DEFAULT_DESTINATION if DEFAULT_DESTINATION in names else sent[0]["destination"]
    return [m for m in sent if m["destination"] == keep]


def _skipped(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "eventId": row["id"],
        "type": row["type"],
        "reason": "its payload was purged (CTSYNC_RETENTION_DAYS) or cannot be read",
    }


def _replay_histories(conn: Conn, planner: Planner, rows: list[dict[str, Any]]) -> dict[int, Plan]:
    """The new plan of every event of ``rows``, each resource's history replayed once."""
    up_to: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row["project_key"], row["resource_id"])
        up_to[key] = max(up_to.get(key, 0), row["id"])
    plans: dict[int, Plan] = {}
    for (project_key, resource_id), last_id in up_to.items():
        history = conn.all(
            "resource_history", project_key=project_key, resource_id=resource_id, up_to=last_id
        )
        plans.update(_replay(conn, planner, history)[0])
    return plans


def _replay(
    conn: Conn, planner: Planner, history: list[dict[str, Any]]
) -> tuple[dict[int, Plan], IdentityState | None]:
    """Plan one resource's events in turn, as the pipeline did (waiting ones released).

    Returns each event's plan and the state the resource ends with.
    """
    state: IdentityState | None = None
    plans: dict[int, Plan] = {}
    waiting: list[tuple[int, CtEvent]] = []
    for row in history:
        event = _event(row)
        if event is None:
            continue
        given = state
        if given is None and event.resource_type == "order":
            given = buyer_state(conn, event)
        plan = planner(event, given)
        plans[row["id"]] = plan
        state = plan.state or state
        if plan.status == "waiting":
            waiting.append((row["id"], event))
        elif waiting and plan.status == "accepted" and state is not None and state.user_id:
            for wid, wevent in waiting:
                plans[wid] = again = planner(wevent, state)
                state = again.state or state
            waiting = []
    return plans, state


def _event(row: dict[str, Any]) -> CtEvent | None:
    """The event as the webhook parsed it (None when its payload is gone)."""
    if not row["payload"]:
        return None
    try:
        return parse_ct_payload(json.loads(row["payload"]), envelope=row["envelope"])
    except (InputError, ValueError):
        return event_from_row(row)


def compare_calls(sent: list[dict[str, Any]], would: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What differs between two lists of Segment calls, paired by type and position."""
    by_type: dict[str, list[list[dict[str, Any] | None]]] = defaultdict(lambda: [[], []])
    for side, calls in enumerate((sent, would)):
        for call in calls:
            by_type[str(call.get("type"))][side].append(call)
    out: list[dict[str, Any]] = []
    for kind, (old, new) in by_type.items():
        for i in range(max(len(old), len(new))):
            diff = _compare_one(kind, _at(old, i), _at(new, i))
            if diff:
                out.append(diff)
    return out


def _at(calls: list[dict[str, Any] | None], i: int) -> dict[str, Any] | None:
    return calls[i] if i < len(calls) else None


def _compare_one(
    kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None
) -> dict[str, Any] | None:
    if old is None or new is None:
        change = "newly sent" if old is None else "no longer sent"
        return {"call": kind, "change": change, "message": new or old}
    diff: dict[str, Any] = {}
    for key in ("userId", "anonymousId", "previousId", "event"):
        if old.get(key) != new.get(key):
            diff[key] = {"was": old.get(key), "would": new.get(key)}
    for key in ("traits", "properties"):
        fields = _compare_fields(old.get(key) or {}, new.get(key) or {})
        if fields:
            diff[key] = fields
    return {"call": kind, "change": "different", **diff} if diff else None


def _compare_fields(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    added = {k: v for k, v in new.items() if k not in old}
    removed = sorted(k for k in old if k not in new)
    changed = {
        k: {"was": old[k], "would": new[k]} for k in old.keys() & new.keys() if old[k] != new[k]
    }
    out: dict[str, Any] = {}
    if added:
        out["added"] = added
    if removed:
        out["removed"] = removed
    if changed:
        out["changed"] = dict(sorted(changed.items()))
    return out


def resend_changed(
    conn: Conn,
    planner: Planner,
    old: MappingOptions,
    new: MappingOptions,
    *,
    now: float,
    horizon_s: float,
) -> list[str]:
    """Queue an Identify for each customer whose full traits differ under ``new``.

    Each customer's stored history is replayed through the new mapping; its
    traits as ``new`` would send them are compared with those ``old`` sends from
    the kept state. The Identify's messageId comes from the new version, so a
    second apply queues nothing more. Returns the customer ids queued.
    """
    queued = []
    for identity in conn.all("customer_identities"):
        kept = IdentityState.from_json(json.loads(identity["state"]))
        history = conn.all(
            "resource_history",
            project_key=identity["project_key"],
            resource_id=identity["customer_id"],
            up_to=_NO_LIMIT * 1_000_000,
        )
        if not history or history[0]["resource_type"] != "customer":
            continue  # orders keep their buyer in the identity map too
        state = _replay(conn, planner, history)[1]
        if state is None or not state.user_id or state.deleted:
            continue
        traits = full_traits(state, new)
        if traits == full_traits(kept, old):
            continue
        message = _identify(identity["project_key"], state, traits, new.version)
        row = _outbox_row(identity, message, new.version, now=now, horizon_s=horizon_s)
        if conn.many("insert_message", [row]):
            queued.append(identity["customer_id"])
    return queued


def full_traits(state: IdentityState, options: MappingOptions) -> dict[str, Any]:
    """Every trait ``options`` sends for a kept state, under its names, in its order."""
    return {
        s.name: state.traits[s.state_key] for s in options.traits if s.state_key in state.traits
    }


def _identify(
    project_key: str, state: IdentityState, traits: dict[str, Any], version: str
) -> dict[str, Any]:
    message_id = str(
        uuid.uuid5(_REMAP, f"{project_key}|{state.customer_id}|{version}|{state.version}")
    )
    return {
        "type": "identify",
        "messageId": message_id,
        "userId": state.user_id,
        "traits": traits,
        "context": {"library": {"name": "ctsync", "version": __version__}},
    }


def _outbox_row(
    identity: dict[str, Any],
    message: dict[str, Any],
    version: str,
    *,
    now: float,
    horizon_s: float,
) -> dict[str, Any]:
    return {
        "event_id": None,
        "message_id": message["messageId"],
        "order_key": f"{identity['project_key']}:{identity['customer_id']}",
        "type": "identify",
        "user_id": message["userId"],
        "body": json.dumps(message, separators=(",", ":"), ensure_ascii=False),
        "now": now,
        "deadline": now + horizon_s,
        "status": "pending",
        "error": None,
        "finished_at": None,
        "mapping_version": version,
        "destination": DEFAULT_DESTINATION,
    }
