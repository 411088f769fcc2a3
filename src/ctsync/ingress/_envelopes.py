"""Envelopes: how a commercetools payload arrives at the HTTP endpoint.

``unwrap`` recognises the envelope from the decoded body and the headers, in
this order, and returns the commercetools payloads inside it, or the handshake
to answer:

1. ``ce-specversion`` header: a binary-mode CloudEvent (body = data).
2. ``x-amz-sns-message-type`` header, or a body with SNS ``Type`` + ``TopicArn``: SNS
   (``x-amz-sns-rawdelivery: true``: the body is the payload).
3. ``{"message": {...}, "subscription": ...}``: Pub/Sub push (base64 ``message.data``).
4. content type ``application/cloudevents-batch+json``: a CloudEvents batch (an array).
5. any other JSON array: a CloudEvents batch if an element has ``specversion``, Event
   Grid events if the ``aeg-event-type`` header is set or an element has ``eventType``;
   else malformed.
6. any ``x-goog-pubsub-*`` header: Pub/Sub unwrapped push (body = data).
7. content type ``application/cloudevents+json``, or ``specversion`` in the body:
   a structured CloudEvent.
8. ``aeg-event-type`` header or ``eventType`` in the body: one Event Grid event.
9. ``detail`` + ``detail-type``: an EventBridge event.
10. anything else: the Platform format posted directly (not a cloud).

Posted to ``/api/webhook/{source}``, a body that is no envelope (or a bare
CloudEvent) is taken as that cloud's raw delivery (Pub/Sub unwrapped push, SNS
raw delivery, an EventBridge input transformer sending ``$.detail``).

None of this applies to a body proven by its envelope's own check: a signed SNS
message is read as SNS (its signed ``Message`` only), a push proven by a Pub/Sub
token as a Pub/Sub push; no header, key or path decides otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Literal, get_args

from ctsync.errors import InputError
from ctsync.ingress import _clouds, _sns
from ctsync.ingress._cloudevents import (
    BATCH_TYPE,
    STRUCTURED_TYPE,
    binary_item,
    is_cloudevent,
    structured_item,
)
from ctsync.ingress._unwrapped import Item, Unwrapped
from ctsync.ingress._verify import Proof

__all__ = ["SOURCES", "Item", "Source", "Unwrapped", "detect", "unwrap"]

Source = Literal["pubsub", "sns", "eventgrid", "cloudevents", "eventbridge"]
SOURCES: tuple[str, ...] = get_args(Source)

_ARRAY_MESSAGE = (
    "a JSON array is not a commercetools delivery (only Event Grid and CloudEvents batches "
    "are arrays)"
)


def unwrap(
    data: Any, headers: Mapping[str, str], *, source: str | None = None, proof: Proof | None = None
) -> Unwrapped:
    """The commercetools payloads in a request (decoded body + lower-cased headers).

    ``proof``: what let the request in; an envelope's own check fixes how the
    body is read, the shared secret or the operator's opt-in leave it to detection.
    """
    proven = _PROVEN.get(proof or "")
    if proven is not None:
        return proven(data, headers)
    kind = detect(data, headers)
    if source in _RAW and kind in {"direct", "cloudevents"}:
        return _RAW[source](data, headers)
    return _UNWRAP[kind](data, headers)


def detect(data: Any, headers: Mapping[str, str]) -> str:
    """The envelope's name: the first rule that matches (see the module's docstring)."""
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    for matches, kind in _RULES:
        if matches(data, headers, content_type):
            return kind
    return "direct"


def _array(data: list[Any], headers: Mapping[str, str]) -> Unwrapped:
    if len(data) > _clouds.MAX_BATCH:
        msg = f"a batch holds at most {_clouds.MAX_BATCH} events"
        raise InputError(msg)
    if any(is_cloudevent(x) for x in data):
        return _batch(data, headers)
    if "aeg-event-type" in headers or any(_clouds.is_eventgrid_event(x) for x in data):
        return _clouds.eventgrid(data)
    raise InputError(_ARRAY_MESSAGE)


def _direct(data: Any, headers: Mapping[str, str]) -> Unwrapped:
    del headers
    if not isinstance(data, dict):
        msg = "a commercetools delivery must be a JSON object"
        raise InputError(msg)
    return Unwrapped(items=[Item("direct", data)])


def _structured(data: Any, headers: Mapping[str, str]) -> Unwrapped:
    del headers
    return Unwrapped([structured_item(data)], cloud=True)


def _batch(data: Any, headers: Mapping[str, str]) -> Unwrapped:
    del headers
    if not isinstance(data, list):
        msg = "a CloudEvents batch must be a JSON array"
        raise InputError(msg)
    if len(data) > _clouds.MAX_BATCH:
        msg = f"a batch holds at most {_clouds.MAX_BATCH} events"
        raise InputError(msg)
    return Unwrapped([structured_item(x) for x in data], batch=True, cloud=True)


def _binary(data: Any, headers: Mapping[str, str]) -> Unwrapped:
    return Unwrapped([binary_item(headers, data)], cloud=True)


_Unwrapper = Callable[[Any, Mapping[str, str]], Unwrapped]
_Rule = Callable[[Any, Mapping[str, str], str], bool]

_RULES: tuple[tuple[_Rule, str], ...] = (
    (lambda data, headers, ctype: "ce-specversion" in headers, "cloudevents-binary"),
    (lambda data, headers, ctype: _sns.is_sns(data, headers), "sns"),
    (lambda data, headers, ctype: _clouds.is_pubsub_push(data), "pubsub"),
    (lambda data, headers, ctype: ctype == BATCH_TYPE, "cloudevents-batch"),
    (lambda data, headers, ctype: isinstance(data, list), "array"),
    (
        lambda data, headers, ctype: any(h.startswith("x-goog-pubsub-") for h in headers),
        "pubsub-unwrapped",
    ),
    (lambda data, headers, ctype: ctype == STRUCTURED_TYPE or is_cloudevent(data), "cloudevents"),
    (lambda data, headers, ctype: "aeg-event-type" in headers, "eventgrid-one"),
    (lambda data, headers, ctype: _clouds.is_eventgrid_event(data), "eventgrid-one"),
    (lambda data, headers, ctype: _clouds.is_eventbridge(data), "eventbridge"),
)

_UNWRAP: dict[str, _Unwrapper] = {
    "direct": _direct,
    "sns": _sns.sns,
    "pubsub": lambda data, _: _clouds.pubsub_push(data),
    "pubsub-unwrapped": _clouds.pubsub_unwrapped,
    "cloudevents": _structured,
    "cloudevents-batch": _batch,
    "cloudevents-binary": _binary,
    "array": _array,
    "eventgrid": lambda data, _: _clouds.eventgrid(data),
    "eventgrid-one": lambda data, _: replace(_clouds.eventgrid([data]), batch=False),
    "eventbridge": lambda data, _: _clouds.eventbridge(data),
}

_PROVEN: dict[str, _Unwrapper] = {
    "sns": lambda data, _: _sns.signed(data),
    "pubsub": _clouds.pubsub_proven,
}

_RAW: dict[str, _Unwrapper] = {
    "pubsub": _clouds.pubsub_unwrapped,
    "sns": _sns.raw,
    "eventbridge": _clouds.eventbridge_raw,
}
