"""What the pipeline does with a plan besides storing it: transforms, destinations, regulations.

Kept apart from pipeline.py, which records events; these are the additions of
the mapping file (issue 17): ``ctsync.transforms`` plugins, a route's
destinations (one outbox row each), the buyer of an order, and the regulation
a deleted customer gets.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

from ctsync.ingress._model import CtEvent
from ctsync.mapping import IdentityState, Plan, SegmentMessage
from ctsync.mapping._ids import destination_id
from ctsync.mapping._types import DEFAULT_DESTINATION
from ctsync.plugins import Transform
from ctsync.store import Conn

__all__ = ["buyer_state", "fan_out", "request_regulation", "transformed"]


def transformed(plan: Plan, transforms: list[Transform]) -> Plan:
    """Each message as the ``ctsync.transforms`` plugins leave it (None drops it)."""
    messages = []
    for msg in plan.messages:
        body: dict[str, Any] | None = copy.deepcopy(msg.body)
        for transform in transforms:
            body = transform(body) if body is not None else None
        if body is not None:
            messages.append(replace(msg, body=body))
    if plan.messages and not messages:
        reason = "the mapping's transforms dropped every message"
        return replace(plan, status="ignored", messages=(), reason=reason)
    return replace(plan, messages=tuple(messages))


_DELETIONS = frozenset({"CustomerDeleted", "ResourceDeleted"})


def request_regulation(
    conn: Conn, event: CtEvent, plan: Plan, regulation_type: str, now: float
) -> None:
    """A customer's deletion, sent: ask Segment to delete and suppress them too (regulations)."""
    if (
        plan.status == "accepted"
        and plan.user_id
        and event.resource_type == "customer"
        and event.type in _DELETIONS
    ):
        conn.run(
            "insert_regulation",
            project_key=event.project_key,
            customer_id=event.resource_id,
            user_id=plan.user_id,
            regulation_type=regulation_type,
            now=now,
        )


def buyer_state(conn: Conn, event: CtEvent) -> IdentityState | None:
    """The identity of the customer a new order names (its userId when the order has no email)."""
    order = event.payload.get("order") if event.payload_included else None
    customer_id = order.get("customerId") if isinstance(order, dict) else None
    if not isinstance(customer_id, str) or not customer_id:
        return None
    row = conn.one("identity_state", project_key=event.project_key, customer_id=customer_id)
    if row is None or row["state"] is None:
        return None
    return IdentityState.from_json(json.loads(row["state"]))


def fan_out(plan: Plan) -> list[tuple[str, SegmentMessage]]:
    """Each message once per destination of the plan's route, with its own messageId there."""
    if plan.destinations == (DEFAULT_DESTINATION,):
        return [(DEFAULT_DESTINATION, m) for m in plan.messages]
    out = []
    for destination in plan.destinations:
        for msg in plan.messages:
            if destination != DEFAULT_DESTINATION:
                new_id = destination_id(msg.message_id, destination)
                msg = replace(msg, message_id=new_id, body={**msg.body, "messageId": new_id})  # noqa: PLW2901
            out.append((destination, msg))
    return out
