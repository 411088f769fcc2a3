"""Parse a commercetools payload (Platform format, or the seed's format) into a CtEvent.

Everything a payload must have to be processed is checked here, so that a bad
delivery is refused with a message that names the field, before it is stored.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ctsync.errors import InputError
from ctsync.ingress._model import CtEvent

_CHANGES = {"ResourceCreated", "ResourceUpdated", "ResourceDeleted"}
_SEED_TYPES = {
    "CustomerCreated": "CustomerCreated",
    "CustomerUpdated": "CustomerUpdated",
    "customer.created": "CustomerCreated",
    "customer.updated": "CustomerUpdated",
}
_ORDER_SNAPSHOTS = {"OrderCreated", "OrderImported"}
_MAX_VERSION = 2**63 - 1
MAX_ID_BYTES = 256
"""The longest identifier (id, key, type, project key) a delivery may carry."""


def parse_ct_payload(data: Any, *, envelope: str = "direct") -> CtEvent:
    """The CtEvent for one commercetools delivery payload; InputError when unusable."""
    if not isinstance(data, dict):
        msg = "a commercetools delivery must be a JSON object"
        raise InputError(msg)
    kind = data.get("notificationType")
    if kind is not None and not isinstance(kind, str):
        msg = f"'notificationType' must be a string, not {_short(kind)}"
        raise InputError(msg)
    if kind == "Message":
        seed_type = isinstance(data.get("type"), str) and data["type"] in _SEED_TYPES
        if "customer" in data and ("resource" not in data or seed_type):
            return _snapshot(data, envelope)
        return _message(data, envelope)
    if kind in _CHANGES:
        return _change(data, envelope)
    if kind is None:
        msg = "missing field 'notificationType' (Message, ResourceCreated, ...)"
        raise InputError(msg)
    msg = f"unknown notificationType {_short(kind)}"
    raise InputError(msg)


def _message(data: dict[str, Any], envelope: str) -> CtEvent:
    type_id, resource_id = _resource(data)
    message_id = _text(data, "id")
    mtype = _text(data, "type")
    project = _text(data, "projectKey")
    included = "payloadNotIncluded" not in data
    if included and mtype == "CustomerCreated":
        _customer(data, "customer")
    if included and mtype in _ORDER_SNAPSHOTS:
        _order(data)
    return CtEvent(
        kind="message" if included else "change",
        type=mtype,
        project_key=project,
        resource_type=type_id,
        resource_id=resource_id,
        resource_version=_version(data, "resourceVersion"),
        message_id=message_id,
        created_at=_opt_text(data, "createdAt"),
        dedupe_key=f"msg:{project}:{message_id}",
        payload=data,
        sequence_number=_version(data, "sequenceNumber"),
        payload_included=included,
        envelope=envelope,
    )


def _change(data: dict[str, Any], envelope: str) -> CtEvent:
    type_id, resource_id = _resource(data)
    project = _text(data, "projectKey")
    version = _version(data, "version")
    kind = data["notificationType"]
    key = version if version is not None else payload_hash(data)
    return CtEvent(
        kind="change",
        type=kind,
        project_key=project,
        resource_type=type_id,
        resource_id=resource_id,
        resource_version=version,
        message_id=None,
        created_at=_opt_text(data, "modifiedAt"),
        dedupe_key=f"chg:{project}:{type_id}:{resource_id}:{key}:{kind}",
        payload=data,
        payload_included=False,
        envelope=envelope,
    )


def _snapshot(data: dict[str, Any], envelope: str) -> CtEvent:
    """A message carrying the full ``customer``: CustomerCreated, or the proof of concept's
    CustomerUpdated / customer.created / customer.updated, with or without ``resource``.

    The customer id is ``customer.id``, else ``resource.id``; the version is
    ``customer.version``, else ``resourceVersion``. Every such message is a snapshot:
    an update sent in the seed's format must refresh every trait, not be ignored.
    """
    raw_type = data.get("type")
    mtype = _SEED_TYPES.get(raw_type) if isinstance(raw_type, str) else None
    if mtype is None:
        msg = (
            f"a payload with 'customer' and no 'resource' must have type CustomerCreated or "
            f"CustomerUpdated, not {_short(raw_type)}"
        )
        raise InputError(msg)
    customer = _customer(data, "customer")
    framed = "resource" in data  # a Platform message, not the seed's bare format
    cid = _snapshot_id(data, customer)
    project = _text(data, "projectKey") if framed else _opt_text(data, "projectKey") or "default"
    version = _version(customer, "version", where="customer.")
    if version is None:
        version = _version(data, "resourceVersion")
    message_id = _opt_text(data, "id")
    key = f"v{version}" if version is not None else payload_hash(data)
    dedupe_key = f"msg:{project}:{message_id}" if message_id else f"snap:{project}:{cid}:{key}"
    sent, modified = _opt_text(data, "createdAt"), _opt_text(customer, "lastModifiedAt")
    return CtEvent(
        kind="snapshot",
        type=mtype,
        project_key=project,
        resource_type="customer",
        resource_id=cid,
        resource_version=version,
        message_id=message_id,
        created_at=(sent or modified) if framed else (modified or sent),
        dedupe_key=dedupe_key,
        payload=data,
        sequence_number=_version(data, "sequenceNumber"),
        envelope=envelope,
    )


def _snapshot_id(data: dict[str, Any], customer: dict[str, Any]) -> str:
    """``customer.id``, else ``resource.id``; both given, they must agree."""
    if "resource" not in data:
        return _text(customer, "id", where="customer.")
    type_id, resource_id = _resource(data)
    if type_id != "customer":
        msg = f"a message carrying 'customer' must be about a customer, not {_short(type_id)}"
        raise InputError(msg)
    if customer.get("id") is None:
        return resource_id
    if _text(customer, "id", where="customer.") != resource_id:
        msg = "'customer.id' is not the message's 'resource.id'"
        raise InputError(msg)
    return resource_id


def _resource(data: dict[str, Any]) -> tuple[str, str]:
    res = data.get("resource")
    if not isinstance(res, dict):
        msg = "missing object 'resource' ({typeId, id})"
        raise InputError(msg)
    return _text(res, "typeId", where="resource."), _text(res, "id", where="resource.")


def _customer(data: dict[str, Any], key: str) -> dict[str, Any]:
    customer = data.get(key)
    if not isinstance(customer, dict):
        msg = f"missing object '{key}' (the full customer)"
        raise InputError(msg)
    email = customer.get("email")
    if not isinstance(email, str) or not email.strip():
        msg = f"'{key}.email' is missing or empty: the customer's email is its Segment userId"
        raise InputError(msg)
    return customer


def _order(data: dict[str, Any]) -> dict[str, Any]:
    """OrderCreated/OrderImported carry the full order; its customerId is looked up."""
    order = data.get("order")
    if not isinstance(order, dict):
        msg = "missing object 'order' (the full order)"
        raise InputError(msg)
    if order.get("customerId") is not None:
        _text(order, "customerId", where="order.")
    return order


def _text(data: dict[str, Any], key: str, *, where: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        msg = f"'{where}{key}' must be a non-empty string"
        raise InputError(msg)
    return _storable(value, f"{where}{key}")


def _opt_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return _storable(value, key) if isinstance(value, str) and value else None


def _storable(value: str, name: str) -> str:
    """An identifier the store keeps (and indexes) as text.

    A NUL can never be stored, and PostgreSQL cannot index a long value: either
    would make the store refuse the event on every redelivery. commercetools'
    ids, keys and types are far shorter than the limit.
    """
    if "\x00" in value:
        msg = f"'{name}' holds a NUL character (\\u0000)"
        raise InputError(msg)
    if len(value.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        msg = f"'{name}' is longer than {MAX_ID_BYTES} bytes: not a commercetools identifier"
        raise InputError(msg)
    return value


def _version(data: dict[str, Any], key: str, *, where: str = "") -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_VERSION:
        msg = f"'{where}{key}' must be a non-negative integer"
        raise InputError(msg)
    return value


def payload_hash(data: Any) -> str:
    """A stable short hash of a JSON payload: the dedupe key of last resort."""
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "h" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True) if value is not None else "null"
    return text if len(text) <= 60 else text[:57] + "..."
