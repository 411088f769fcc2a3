"""Builders shared by the mapping tests: a customer, its state, delta events."""

from __future__ import annotations

from typing import Any

from ctsync.ingress._model import CtEvent
from ctsync.mapping import IdentityState, MappingOptions, Plan, plan_customer_read, plan_event

PROJECT = "shop"
CID = "c-1"
EMAIL = "jane@example.com"
WHEN = "2024-03-01T12:00:00.000Z"

_A1 = {
    "id": "a1",
    "country": "DE",
    "streetName": "Hauptstr.",
    "streetNumber": "5",
    "city": "Berlin",
    "phone": "030 1234567",
}
_A2 = {"id": "a2", "country": "FR", "city": "Paris"}


def _customer(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": CID,
        "version": 1,
        "email": EMAIL,
        "firstName": "Jane",
        "lastName": "Doe",
        "dateOfBirth": "1990-05-17",
        "companyName": "ACME",
        "addresses": [_A1, _A2],
    }
    base.update(fields)
    return base


def _state(**fields: Any) -> IdentityState:
    plan = plan_customer_read(PROJECT, _customer(**fields), None)
    assert plan.state is not None
    return plan.state


def _event(
    type_: str,
    version: int | None = 2,
    *,
    kind: str = "message",
    message_id: str | None = None,
    **payload: Any,
) -> CtEvent:
    mid = message_id or f"m-{type_}-{version}"
    return CtEvent(
        kind=kind,  # type: ignore[arg-type]
        type=type_,
        project_key=PROJECT,
        resource_type="customer",
        resource_id=CID,
        resource_version=version,
        message_id=mid,
        created_at=WHEN,
        dedupe_key=f"msg:{mid}",
        payload={"notificationType": "Message", "type": type_, **payload},
    )


def _run(
    state: IdentityState | None, *events: CtEvent, options: MappingOptions | None = None
) -> Plan:
    """Plan the events in turn, storing each new state as the pipeline does; the last plan."""
    plan = Plan("ignored")
    for event in events:
        plan = plan_event(event, state, options or MappingOptions())
        if plan.state is not None:
            state = plan.state
    return plan
