"""Customer delta messages -> Identify with just the traits they changed (or Alias, Track)."""

from __future__ import annotations

from typing import Any

from ctsync.commercetools import Address
from ctsync.mapping._common import (
    UnmappableError,
    after_deletion,
    is_fresh,
    note_version,
    set_trait,
    stale,
)
from ctsync.mapping._ids import Origin
from ctsync.mapping._messages import alias, identify, track
from ctsync.mapping._traits import (
    BOOK_TRAITS,
    birthday,
    book_traits,
    company,
    full_name,
    normalize_email,
    text,
)
from ctsync.mapping._types import (
    IdentityState,
    MappingOptions,
    Plan,
    SegmentMessage,
    clone_state,
)

__all__ = [
    "ADDRESS_DELTAS",
    "FIELD_DELTAS",
    "plan_address_delta",
    "plan_deletion",
    "plan_email_change",
    "plan_field_delta",
]

FIELD_DELTAS: dict[str, tuple[str, str]] = {
    "CustomerFirstNameSet": ("firstName", "firstName"),
    "CustomerLastNameSet": ("lastName", "lastName"),
    "CustomerDateOfBirthSet": ("dateOfBirth", "birthday"),
    "CustomerCompanyNameSet": ("companyName", "company"),
}
"""Message type -> (its payload field, the trait it sets)."""

ADDRESS_DELTAS = frozenset(
    {
        "CustomerAddressAdded",
        "CustomerAddressChanged",
        "CustomerAddressRemoved",
        "CustomerDefaultBillingAddressSet",
        "CustomerDefaultShippingAddressSet",
    }
)
_DEFAULT_SETS = {
    "CustomerDefaultBillingAddressSet": "default_billing_address_id",
    "CustomerDefaultShippingAddressSet": "default_shipping_address_id",
}


def plan_field_delta(origin: Origin, payload: dict[str, Any], state: IdentityState) -> Plan:
    """FirstNameSet and its kind: Identify the trait (null when cleared), plus ``name``."""
    field, trait = FIELD_DELTAS[origin.source]
    value = _trait_value(trait, field, _optional_str(payload, field))
    if not is_fresh(state, trait, origin.version):
        return stale(state, origin.version, origin.source)
    new = clone_state(state)
    set_trait(new, trait, value, origin.version)
    changes: dict[str, Any] = {trait: value}
    if trait in ("firstName", "lastName"):
        name = full_name(new.traits.get("firstName"), new.traits.get("lastName"))
        set_trait(new, "name", name, None)
        changes["name"] = name
    return _accepted(origin, new, changes)


def plan_address_delta(
    origin: Origin, payload: dict[str, Any], state: IdentityState, options: MappingOptions
) -> Plan:
    """An address-book change: Identify ``address``/``phone`` when the chosen address changed."""
    if not is_fresh(state, "address", origin.version):
        return stale(state, origin.version, origin.source)
    new = clone_state(state)
    _change_book(new, origin.source, payload)
    book = [Address.model_validate(a) for a in new.addresses]
    after = book_traits(
        book, new.default_billing_address_id, new.default_shipping_address_id, options
    )
    changes = {k: after.get(k) for k in BOOK_TRAITS if after.get(k) != state.traits.get(k)}
    for trait in BOOK_TRAITS:
        set_trait(new, trait, after.get(trait), origin.version)
    if not changes:
        note_version(new, origin.version)
        reason = f"{origin.source} changed neither the chosen address nor the phone"
        return Plan("ignored", state=new, reason=reason, user_id=new.user_id)
    return _accepted(origin, new, changes)


def plan_email_change(
    origin: Origin, payload: dict[str, Any], state: IdentityState | None, options: MappingOptions
) -> Plan:
    """CustomerEmailChanged: Alias old -> new userId, then Identify with the known traits."""
    email = text(_optional_str(payload, "email"))
    if email is None:
        msg = "'email' is missing or empty"
        raise UnmappableError(msg)
    email = normalize_email(email)
    old_email = text(_optional_str(payload, "oldEmail"))
    prev = state or IdentityState(customer_id=origin.customer_id)
    if prev.deleted:
        return after_deletion(prev, origin.source)
    if not is_fresh(prev, "email", origin.version):
        return stale(prev, origin.version, origin.source)
    new = clone_state(prev)
    set_trait(new, "email", email, origin.version)
    note_version(new, origin.version)
    new.email = email
    if options.identity == "customer_id":
        new.user_id = origin.customer_id
        return _plan(new, [identify(origin, 0, new.user_id, {"email": email})])
    previous_id = prev.user_id or (normalize_email(old_email) if old_email else None)
    new.user_id = email
    new.traits.setdefault("commercetoolsCustomerId", origin.customer_id)
    messages: list[SegmentMessage] = []
    if previous_id and previous_id != email:
        messages.append(alias(origin, 0, previous_id, email))
    messages.append(identify(origin, len(messages), email, dict(new.traits)))
    return _plan(new, messages)


def plan_deletion(
    origin: Origin, payload: dict[str, Any], state: IdentityState | None, options: MappingOptions
) -> Plan:
    """CustomerDeleted (or ResourceDeleted): Track the deletion; the state is marked deleted."""
    email = text(_optional_str(payload, "email"))
    email = normalize_email(email) if email else None
    user_id = _deleted_user_id(origin, email, state, options)
    if user_id is None:
        reason = (
            "the deleted customer's email is not known yet: waiting for a snapshot "
            "(CustomerCreated) or an API read"
        )
        return Plan("waiting", reason=reason)
    new = clone_state(state) if state else IdentityState(origin.customer_id, user_id, email)
    new.deleted = True
    note_version(new, origin.version)
    properties = {"commercetoolsCustomerId": origin.customer_id}
    event = options.deleted_event
    return _plan(new, [track(origin, event, properties, user_id)])


def _deleted_user_id(
    origin: Origin, email: str | None, state: IdentityState | None, options: MappingOptions
) -> str | None:
    if state is not None and state.user_id:
        return state.user_id
    if options.identity == "customer_id":
        return origin.customer_id
    return email


def _accepted(origin: Origin, new: IdentityState, changes: dict[str, Any]) -> Plan:
    note_version(new, origin.version)
    user_id = new.user_id
    if user_id is None:  # the caller makes deltas wait until the identity is known
        msg = "the customer's userId is not known"
        raise UnmappableError(msg)
    return _plan(new, [identify(origin, 0, user_id, changes)])


def _plan(new: IdentityState, messages: list[SegmentMessage]) -> Plan:
    return Plan("accepted", tuple(messages), new, user_id=new.user_id)


def _trait_value(trait: str, field: str, raw: str | None) -> Any:
    """The trait a delta field sets: trimmed text, a YYYY-MM-DD date, a company object."""
    if trait == "birthday":
        value = birthday(raw)
        if value is None and text(raw) is not None:
            msg = f"'{field}' is not a date (YYYY-MM-DD)"
            raise UnmappableError(msg)
        return value
    if trait == "company":
        return company(raw)
    return text(raw)


def _optional_str(payload: dict[str, Any], field: str) -> str | None:
    value = payload.get(field)
    if value is not None and not isinstance(value, str):
        msg = f"'{field}' must be a string, not {type(value).__name__}"
        raise UnmappableError(msg)
    return value


def _change_book(state: IdentityState, message_type: str, payload: dict[str, Any]) -> None:
    """Apply one address-book message to the kept book and default ids."""
    raw = payload.get("address")
    if message_type in _DEFAULT_SETS:
        address_id = None if raw is None else _upsert(state, raw, needs_id=True)
        setattr(state, _DEFAULT_SETS[message_type], address_id)
    elif message_type == "CustomerAddressRemoved":
        _remove(state, _address(raw, needs_id=True).id)
    else:
        _upsert(state, raw, needs_id=message_type == "CustomerAddressChanged")


def _address(raw: Any, *, needs_id: bool) -> Address:
    if not isinstance(raw, dict):
        msg = "'address' must be an object"
        raise UnmappableError(msg)
    address = Address.model_validate(raw)
    if needs_id and not address.id:
        msg = "'address.id' is missing"
        raise UnmappableError(msg)
    return address


def _upsert(state: IdentityState, raw: Any, *, needs_id: bool) -> str | None:
    """Add ``raw`` to the book, replacing the address with its id; return that id."""
    address = _address(raw, needs_id=needs_id)
    at = [i for i, a in enumerate(state.addresses) if address.id and a.get("id") == address.id]
    if at:  # in place: the first address is the fallback choice, so order matters
        state.addresses[at[0]] = dict(raw)
    else:
        state.addresses.append(dict(raw))
    return address.id


def _remove(state: IdentityState, address_id: str | None) -> None:
    """Drop an address; commercetools unsets a default that pointed to it."""
    state.addresses = [a for a in state.addresses if a.get("id") != address_id]
    if state.default_billing_address_id == address_id:
        state.default_billing_address_id = None
    if state.default_shipping_address_id == address_id:
        state.default_shipping_address_id = None
