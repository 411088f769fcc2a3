"""A full customer snapshot (CustomerCreated, the seed format, an API read) -> Identify."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ctsync.commercetools import Customer
from ctsync.mapping._common import (
    UnmappableError,
    after_deletion,
    is_fresh,
    note_version,
    set_trait,
    stale,
)
from ctsync.mapping._expr import expression_traits
from ctsync.mapping._ids import SNAPSHOT, Origin, version_token
from ctsync.mapping._messages import alias, identify
from ctsync.mapping._traits import BOOK_TRAITS, customer_traits, full_name, text
from ctsync.mapping._types import (
    CUSTOM_PREFIX,
    IdentityState,
    MappingOptions,
    Plan,
    SegmentMessage,
    clone_state,
)

__all__ = ["SnapshotSource", "plan_snapshot"]

_FIELD_TRAITS = (
    "email",
    "firstName",
    "lastName",
    "birthday",
    "company",
    "createdAt",
    "commercetoolsCustomerId",
)


@dataclass(frozen=True, slots=True)
class SnapshotSource:
    """How the snapshot arrived: what stands in when the customer lacks version or time."""

    project_key: str
    resource_id: str | None = None
    version: int | None = None
    message_id: str | None = None
    timestamp: str | None = None


def plan_snapshot(
    source: SnapshotSource, raw: Any, state: IdentityState | None, options: MappingOptions
) -> Plan:
    """Refresh the identity from a full customer; Identify the traits not set by newer versions."""
    if not isinstance(raw, dict):
        msg = "'customer' must be an object (the full customer)"
        raise UnmappableError(msg)
    customer = Customer.model_validate(raw)
    origin = _origin(source, customer, raw)
    prev = state or IdentityState(customer_id=origin.customer_id)
    if prev.deleted:
        return after_deletion(prev, "the snapshot")
    new, accepted = _merge(prev, customer, raw, origin.version, options)
    user_id = _user_id(prev, new, accepted, options)
    keys = [spec.state_key for spec in options.traits]
    traits = {k: new.traits[k] for k in keys if k in accepted and k in new.traits}
    if not traits:
        return stale(prev, origin.version, "the snapshot")
    new.user_id, new.email = user_id, new.traits.get("email")
    messages: list[SegmentMessage] = []
    if options.identity == "email" and prev.user_id and prev.user_id != user_id:
        messages.append(alias(origin, 0, prev.user_id, user_id))
    messages.append(identify(origin, len(messages), user_id, traits))
    return Plan("accepted", tuple(messages), new, user_id=user_id)


def _origin(source: SnapshotSource, customer: Customer, raw: dict[str, Any]) -> Origin:
    customer_id = text(customer.id)
    if customer_id is None:
        msg = "'customer.id' is empty"
        raise UnmappableError(msg)
    if source.resource_id is not None and source.resource_id != customer_id:
        msg = f"'customer.id' {customer_id!r} is not the message's resource {source.resource_id!r}"
        raise UnmappableError(msg)
    version = customer.version if customer.version is not None else source.version
    return Origin(
        project_key=source.project_key,
        customer_id=customer_id,
        version=version,
        token=version_token(version, source.message_id, raw),
        source=SNAPSHOT,
        timestamp=source.timestamp or text(customer.lastModifiedAt),
    )


def _merge(
    prev: IdentityState,
    customer: Customer,
    raw: dict[str, Any],
    version: int | None,
    options: MappingOptions,
) -> tuple[IdentityState, set[str]]:
    """The new state, and the traits this snapshot may send (not set by a newer version)."""
    new, accepted = clone_state(prev), set[str]()
    traits = customer_traits(customer, options) | _expression_traits(raw, options)
    for trait in _FIELD_TRAITS + tuple(k for k in traits if k.startswith(CUSTOM_PREFIX)):
        if is_fresh(prev, trait, version):
            set_trait(new, trait, traits.get(trait), version)
            accepted.add(trait)
    if is_fresh(prev, "address", version):
        new.addresses = [dict(a) for a in raw.get("addresses") or []]
        new.default_billing_address_id = customer.defaultBillingAddressId
        new.default_shipping_address_id = customer.defaultShippingAddressId
        for trait in BOOK_TRAITS:
            set_trait(new, trait, traits.get(trait), version)
            accepted.add(trait)
    if accepted & {"firstName", "lastName"}:
        name = full_name(new.traits.get("firstName"), new.traits.get("lastName"))
        set_trait(new, "name", name, None)
        accepted.add("name")
    note_version(new, version)
    return new, accepted


def _expression_traits(raw: dict[str, Any], options: MappingOptions) -> dict[str, Any]:
    """The mapping file's expression traits over the customer, under their state keys."""
    sources = {s.state_key: s.expression for s in options.traits if s.expression is not None}
    return expression_traits(sources, raw) if sources else {}


def _user_id(
    prev: IdentityState, new: IdentityState, accepted: set[str], options: MappingOptions
) -> str:
    """The customer id, or the email: the snapshot's unless a newer email change is known."""
    if options.identity == "customer_id":
        return new.customer_id
    email = new.traits.get("email")
    if "email" not in accepted and prev.user_id:
        return prev.user_id
    if not isinstance(email, str):
        msg = "the customer has no email, and the identity strategy 'email' needs one"
        raise UnmappableError(msg)
    return email
