"""The mapping stage's entry points: one commercetools event (or read) -> a Plan."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from ctsync.ingress._model import CtEvent
from ctsync.mapping._common import UnmappableError, after_deletion, describe_validation
from ctsync.mapping._deltas import (
    ADDRESS_DELTAS,
    FIELD_DELTAS,
    plan_address_delta,
    plan_deletion,
    plan_email_change,
    plan_field_delta,
)
from ctsync.mapping._ids import Origin, payload_digest, version_token
from ctsync.mapping._orders import ORDER_TYPES, STATE_FIELDS, plan_order, plan_order_state
from ctsync.mapping._routes import route
from ctsync.mapping._shape import shape_plan
from ctsync.mapping._snapshot import SnapshotSource, plan_snapshot
from ctsync.mapping._types import IdentityState, MappingOptions, Plan

__all__ = ["plan_customer_read", "plan_event"]

_DEFAULT_OPTIONS = MappingOptions()
# ValidationError and UnmappableError are ValueErrors; the rest is the safety net.
_ODD_DATA = (TypeError, ValueError, KeyError, AttributeError)
_DELETIONS = frozenset({"CustomerDeleted", "ResourceDeleted"})
_MAPPED_DELTAS = FIELD_DELTAS.keys() | ADDRESS_DELTAS
_NEEDS_DATA = frozenset(
    {"ResourceCreated", "ResourceUpdated", "CustomerCreated", "CustomerEmailChanged"}
    | FIELD_DELTAS.keys()
    | ADDRESS_DELTAS
)
_IGNORED = {
    "CustomerTitleSet": (
        "commercetools' title is an honorific ('Dr.') while Segment's title trait is a job "
        "title, so it is not mapped"
    ),
}
_API_HINT = (
    "set CTP_PROJECT_KEY, CTP_CLIENT_ID and CTP_CLIENT_SECRET so ctsync can read the "
    "customer from the commercetools API"
)


def plan_event(
    event: CtEvent, state: IdentityState | None, options: MappingOptions = _DEFAULT_OPTIONS
) -> Plan:
    """Map one commercetools event against the stored identity; never raises on odd data."""
    try:
        plan = _dispatch(event, state, options)
    except _ODD_DATA as exc:
        return _failed(event.type, exc)
    return _routed(shape_plan(plan, event.type, options), options, event.project_key, event.payload)


def plan_customer_read(
    project_key: str,
    customer: dict[str, Any],
    state: IdentityState | None,
    options: MappingOptions = _DEFAULT_OPTIONS,
) -> Plan:
    """Map a customer read from the API (or a backfill page) as a full snapshot."""
    try:
        plan = plan_snapshot(SnapshotSource(project_key), customer, state, options)
    except _ODD_DATA as exc:
        return _failed("customer read", exc)
    shaped = shape_plan(plan, "customer read", options)
    return _routed(shaped, options, project_key, {"customer": customer})


def _routed(plan: Plan, options: MappingOptions, project_key: str, payload: Any) -> Plan:
    """The plan with the destinations its route names (the default one without routes)."""
    if not options.routes or not plan.messages:
        return plan
    return replace(plan, destinations=route(options, project_key, payload))


def _failed(label: str, exc: Exception) -> Plan:
    """A failed plan whose reason names the problem (never the personal data in it)."""
    if isinstance(exc, ValidationError):
        detail = describe_validation(exc)
    elif isinstance(exc, UnmappableError):
        detail = str(exc)
    else:  # a safety net for shapes nobody foresaw: recorded and visible, not a crash
        detail = f"unexpected data ({type(exc).__name__})"
    return Plan("failed", reason=f"{label}: {detail}")


def _dispatch(event: CtEvent, state: IdentityState | None, options: MappingOptions) -> Plan:
    if event.resource_type == "order":
        return _order(event, state, options)
    if event.resource_type == "customer":
        return _customer(event, state, options)
    reason = f"{event.resource_type} events are not mapped (only customers and orders)"
    return Plan("ignored", reason=reason)


def _customer(event: CtEvent, state: IdentityState | None, options: MappingOptions) -> Plan:
    if event.type in _DELETIONS:
        return plan_deletion(_origin(event), _payload(event), state, options)
    if event.kind == "change" or not event.payload_included:
        return _without_data(event, state, options)
    if event.kind == "snapshot" or event.type == "CustomerCreated":
        return _snapshot(event, state, options)
    if event.type == "CustomerEmailChanged":
        return plan_email_change(_origin(event), event.payload, state, options)
    return _delta(event, state, options)


def _order(event: CtEvent, state: IdentityState | None, options: MappingOptions) -> Plan:
    """OrderCreated/OrderImported -> Order Completed; state changes -> the file's events."""
    known = state.user_id if state else None
    if event.type not in ORDER_TYPES and event.type not in STATE_FIELDS:
        return Plan("ignored", reason=f"{event.type} is not mapped", user_id=known)
    if not event.payload_included:
        reason = f"the {event.type} notification carries no order data; {_API_HINT}"
        return Plan("failed", reason=reason, user_id=known)
    if event.type in STATE_FIELDS:
        return plan_order_state(
            event.project_key,
            event.resource_id,
            event.type,
            event.payload,
            state,
            options,
            event.created_at,
        )
    name = dict(options.order_events).get(event.type)
    if name is None:
        reason = f"the mapping ({options.version}) sends nothing for {event.type}"
        return Plan("ignored", reason=reason, user_id=known)
    return plan_order(
        event.project_key,
        event.payload.get("order"),
        name,
        state,
        options,
        fallback_id=event.resource_id,
        timestamp=event.created_at,
    )


def _delta(event: CtEvent, state: IdentityState | None, options: MappingOptions) -> Plan:
    known = state.user_id if state else None
    if event.type in _IGNORED or event.type not in _MAPPED_DELTAS:
        reason = _IGNORED.get(event.type, f"{event.type} does not change a Segment trait")
        return Plan("ignored", reason=reason, user_id=known)
    if state is None or known is None:
        reason = (
            f"ctsync has no snapshot of this customer yet (its email and current traits are "
            f"unknown) and {event.type} does not carry them: waiting for a snapshot "
            "(CustomerCreated) or an API read"
        )
        return Plan("waiting", reason=reason)
    if state.deleted:
        return after_deletion(state, event.type)
    if event.type in FIELD_DELTAS:
        return plan_field_delta(_origin(event), event.payload, state)
    return plan_address_delta(_origin(event), event.payload, state, options)


def _snapshot(event: CtEvent, state: IdentityState | None, options: MappingOptions) -> Plan:
    source = SnapshotSource(
        project_key=event.project_key,
        resource_id=event.resource_id,
        version=event.resource_version,
        message_id=event.message_id,
        timestamp=event.created_at,
    )
    customer = event.payload.get("customer")
    if isinstance(customer, dict) and customer.get("id") is None:
        customer = {**customer, "id": event.resource_id}  # the seed's form: id in resource
    return plan_snapshot(source, customer, state, options)


def _without_data(event: CtEvent, state: IdentityState | None, options: MappingOptions) -> Plan:
    known = state.user_id if state else None
    if event.type not in _NEEDS_DATA:
        reason = f"{event.type} does not change a Segment trait"
        return Plan("ignored", reason=reason, user_id=known)
    if options.api_reads:
        reason = f"the {event.type} notification carries no customer data: it is read from the API"
        return Plan("fetching", reason=reason, user_id=known)
    reason = f"the {event.type} notification carries no customer data; {_API_HINT}"
    return Plan("failed", reason=reason, user_id=known)


def _origin(event: CtEvent) -> Origin:
    version = event.resource_version
    return Origin(
        project_key=event.project_key,
        customer_id=event.resource_id,
        version=version,
        token=version_token(version, event.message_id, event.payload),
        source=event.type,
        timestamp=event.created_at,
        occurrence=_occurrence(event),
    )


def _occurrence(event: CtEvent) -> str:
    """What tells apart the messages of one update: sequenceNumber, else the message id.

    One update with several actions yields messages with the same resourceVersion
    and consecutive sequenceNumbers, possibly of the same type (two AddressRemoved).
    """
    if event.sequence_number is not None:
        return f"s{event.sequence_number}"
    return f"m{event.message_id or payload_digest(event.payload)}"


def _payload(event: CtEvent) -> dict[str, Any]:
    """The payload's own fields; a notification without one has none."""
    return event.payload if event.payload_included and isinstance(event.payload, dict) else {}
