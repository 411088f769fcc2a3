"""Google Pub/Sub push, Azure Event Grid and Amazon EventBridge envelopes.

Each is a thin JSON wrapper around the commercetools payload (or around a
CloudEvent holding it); each unwrapped item keeps the envelope's own id.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from ctsync.errors import InputError
from ctsync.ingress._cloudevents import content_item
from ctsync.ingress._unwrapped import Item, Unwrapped, delivery_id

__all__ = [
    "MAX_BATCH",
    "eventbridge",
    "eventbridge_raw",
    "eventgrid",
    "is_eventbridge",
    "is_eventgrid_event",
    "is_pubsub_push",
    "pubsub_proven",
    "pubsub_push",
    "pubsub_unwrapped",
]

# Event Grid's own ceiling per delivery; a larger array is not from a cloud
# queue, and each item costs a store write.
MAX_BATCH = 5000
_VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
_PUBSUB_MESSAGE_KEYS = ("data", "messageId", "message_id", "attributes")


def is_pubsub_push(data: Any) -> bool:
    """Pub/Sub's wrapped push body: ``{"message": {"data", "messageId", ...}, "subscription"}``."""
    if not isinstance(data, dict) or "notificationType" in data:
        return False
    message = data.get("message")
    return isinstance(message, dict) and (
        "subscription" in data or any(k in message for k in _PUBSUB_MESSAGE_KEYS)
    )


def pubsub_push(data: dict[str, Any]) -> Unwrapped:
    """The payload in ``message.data`` (base64), with ``messageId`` as the delivery id."""
    message = data["message"]
    did = delivery_id(message.get("messageId")) or delivery_id(message.get("message_id"))
    encoded = message.get("data")
    if not isinstance(encoded, str) or not encoded:
        item = Item("pubsub", data, did, "the Pub/Sub message has no data")
    else:
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            item = Item("pubsub", data, did, "the Pub/Sub message data is not base64")
        else:
            item = content_item("pubsub", content, did)
    return Unwrapped([item], cloud=True)


def pubsub_unwrapped(data: Any, headers: Mapping[str, str]) -> Unwrapped:
    """Unwrapped push: the body is the data; metadata, if written, in ``x-goog-pubsub-*``."""
    did = delivery_id(headers.get("x-goog-pubsub-message-id"))
    return Unwrapped([content_item("pubsub", data, did)], cloud=True)


def pubsub_proven(data: Any, headers: Mapping[str, str]) -> Unwrapped:
    """A push whose OIDC token proved Pub/Sub sent it: wrapped, else unwrapped, nothing else.

    Pub/Sub's wrapper is its ``message`` object; no other key decides (the
    unwrapped data is commercetools' payload, which has no ``message`` object).
    """
    if isinstance(data, dict) and isinstance(data.get("message"), dict):
        return pubsub_push(data)
    return pubsub_unwrapped(data, headers)


def is_eventgrid_event(value: Any) -> bool:
    """An event in the Event Grid schema (``eventType``, ``data``, ``dataVersion``, ...)."""
    return isinstance(value, dict) and "eventType" in value and "notificationType" not in value


def eventgrid(events: list[Any]) -> Unwrapped:
    """Answer the validation handshake, or unwrap each event's ``data``."""
    for event in events:
        if is_eventgrid_event(event) and event.get("eventType") == _VALIDATION_EVENT:
            return Unwrapped(reply={"validationResponse": _validation_code(event)}, cloud=True)
    return Unwrapped([_eventgrid_item(e) for e in events], batch=True, cloud=True)


def _validation_code(event: dict[str, Any]) -> str:
    data = event.get("data")
    code = data.get("validationCode") if isinstance(data, dict) else None
    if not isinstance(code, str) or not code:
        msg = "SubscriptionValidationEvent without a data.validationCode"
        raise InputError(msg)
    return code


def _eventgrid_item(event: Any) -> Item:
    if not is_eventgrid_event(event):
        return Item("eventgrid", event, None, "not an Event Grid event (no eventType)")
    did = delivery_id(event.get("id"))
    if "data" not in event:
        return Item("eventgrid", event, did, "the Event Grid event has no data")
    if str(event["eventType"]).startswith("Microsoft."):
        reason = f"not a commercetools event: {str(event['eventType'])[:80]}"
        return Item("eventgrid", event, did, reason)
    return content_item("eventgrid", event["data"], did)


def is_eventbridge(data: Any) -> bool:
    """An EventBridge event: ``detail`` (the payload), ``detail-type``, ``source``, ``id``."""
    return (
        isinstance(data, dict)
        and "detail" in data
        and isinstance(data.get("detail-type"), str)
        and "notificationType" not in data
    )


def eventbridge(data: dict[str, Any]) -> Unwrapped:
    """The payload in ``detail``, with the event ``id`` as the delivery id."""
    item = content_item("eventbridge", data["detail"], delivery_id(data.get("id")))
    return Unwrapped([item], cloud=True)


def eventbridge_raw(data: Any, headers: Mapping[str, str]) -> Unwrapped:
    """An API destination with an input transformer sending only ``$.detail``."""
    del headers
    return Unwrapped([content_item("eventbridge", data, None)], cloud=True)
