"""CloudEvents: structured, batch and binary content mode, through the CNCF SDK.

commercetools' CloudEvents format puts the Platform payload in ``data``
(com.commercetools.<resource>.message.<Type> / .change.<Kind>). The same JSON
also arrives inside other envelopes (Pub/Sub, SNS, EventBridge with that
format), so ``content_item`` looks for a CloudEvent in any envelope's content.

Bodies are decoded strictly by ``decode_json`` first (the SDK's reader would
take NaN and duplicate keys); the SDK then validates the attributes and builds
the event. It has no batch mode: a batch array is split here, one event each.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ctsync.errors import InputError
from ctsync.ingress._body import decode_json
from ctsync.ingress._unwrapped import Item, delivery_id

if TYPE_CHECKING:
    from cloudevents.core.base import BaseCloudEvent

__all__ = [
    "BATCH_TYPE",
    "STRUCTURED_TYPE",
    "binary_item",
    "content_item",
    "is_cloudevent",
    "structured_item",
]

BATCH_TYPE = "application/cloudevents-batch+json"
STRUCTURED_TYPE = "application/cloudevents+json"
_CT_TYPE = re.compile(r"com\.commercetools\.[A-Za-z0-9-]+\.(message|change)\.([A-Za-z]+)")
_MAX_REASON = 300


def is_cloudevent(value: Any) -> bool:
    """A JSON object shaped like a structured CloudEvent (not a commercetools payload)."""
    return isinstance(value, dict) and "specversion" in value and "notificationType" not in value


def structured_item(obj: Any, envelope: str = "cloudevents", outer_id: str | None = None) -> Item:
    """The commercetools payload in one structured-mode CloudEvent (a decoded JSON object)."""
    own_id = delivery_id(obj.get("id")) if isinstance(obj, dict) else None
    did = outer_id or own_id
    if not isinstance(obj, dict):
        return Item(envelope, obj, did, "a CloudEvent must be a JSON object")
    try:
        event = _read_structured(obj)
        return Item(envelope, _platform_payload(event), did)
    except InputError as exc:
        return Item(envelope, obj, did, str(exc))


def binary_item(headers: Mapping[str, str], data: Any) -> Item:
    """The commercetools payload of a binary-mode CloudEvent: ``ce-*`` headers, body = data."""
    did = delivery_id(headers.get("ce-id"))
    try:
        event = _read_binary(headers, data)
        return Item("cloudevents", _platform_payload(event), did)
    except InputError as exc:
        return Item("cloudevents", data, did, str(exc))


def content_item(envelope: str, content: Any, outer_id: str | None) -> Item:
    """The commercetools payload in an envelope's content: JSON text or decoded JSON.

    The content is the Platform payload itself, or a CloudEvent around it when
    the subscription uses the CloudEvents format.
    """
    if isinstance(content, bytes | str):
        raw = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
        try:
            content = decode_json(raw)
        except InputError as exc:
            return Item(envelope, raw.decode("utf-8", "replace"), outer_id, str(exc))
    if is_cloudevent(content):
        return structured_item(content, envelope, outer_id)
    return Item(envelope, content, outer_id)


def _read_structured(obj: dict[str, Any]) -> BaseCloudEvent:
    from cloudevents.core.bindings.http import HTTPMessage, from_structured  # noqa: PLC0415
    from cloudevents.core.formats.json import JSONFormat  # noqa: PLC0415

    message = HTTPMessage({"content-type": STRUCTURED_TYPE}, json.dumps(obj).encode())
    return _through_sdk(lambda: from_structured(message, JSONFormat()))


def _read_binary(headers: Mapping[str, str], data: Any) -> BaseCloudEvent:
    from cloudevents.core.bindings.http import HTTPMessage, from_binary  # noqa: PLC0415
    from cloudevents.core.formats.json import JSONFormat  # noqa: PLC0415

    wanted = {k: v for k, v in headers.items() if k.startswith("ce-") or k == "content-type"}
    message = HTTPMessage(wanted, json.dumps(data).encode())
    return _through_sdk(lambda: from_binary(message, JSONFormat()))


def _through_sdk(read: Callable[[], BaseCloudEvent]) -> BaseCloudEvent:
    """Run an SDK reader; its validation errors (and what hostile values make it raise) -> 400."""
    from cloudevents.core.exceptions import BaseCloudEventException  # noqa: PLC0415

    try:
        return read()
    except (BaseCloudEventException, ValueError, TypeError, OverflowError, AttributeError) as exc:
        reason = str(exc) or type(exc).__name__
        raise InputError(f"invalid CloudEvent: {reason[:_MAX_REASON]}") from exc


def _platform_payload(event: BaseCloudEvent) -> Any:
    """The event's ``data``, decoded, with ``notificationType`` taken from its type if absent."""
    data = event.get_data()
    if data is None:
        msg = "the CloudEvent has no data (commercetools puts its payload there)"
        raise InputError(msg)
    if isinstance(data, bytes | str):
        data = decode_json(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    if isinstance(data, dict) and "notificationType" not in data:
        kind = _notification_type(event.get_type())
        if kind is not None:
            data = {"notificationType": kind, **data}
    return data


def _notification_type(ce_type: Any) -> str | None:
    """``com.commercetools.customer.message.CustomerCreated`` -> ``Message``; changes -> kind."""
    match = _CT_TYPE.fullmatch(ce_type) if isinstance(ce_type, str) else None
    if match is None:
        return None
    return "Message" if match.group(1) == "message" else match.group(2)
