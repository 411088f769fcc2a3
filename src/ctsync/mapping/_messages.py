"""Build the Segment calls (the /v1/batch items) a plan queues."""

from __future__ import annotations

from typing import Any

from ctsync import __version__
from ctsync.mapping._ids import Origin, call_id, track_id
from ctsync.mapping._types import SegmentMessage

__all__ = ["alias", "identify", "track"]


def identify(origin: Origin, position: int, user_id: str, traits: dict[str, Any]) -> SegmentMessage:
    """An Identify of ``user_id`` with ``traits`` (None values clear a trait in Segment)."""
    message_id = call_id(origin, position)
    body = _body("identify", message_id, user_id, origin.timestamp, traits=dict(traits))
    return SegmentMessage("identify", message_id, user_id, body)


def alias(origin: Origin, position: int, previous_id: str, user_id: str) -> SegmentMessage:
    """An Alias that tells Segment ``previous_id`` and ``user_id`` are one user."""
    message_id = call_id(origin, position)
    body = _body("alias", message_id, user_id, origin.timestamp, previousId=previous_id)
    return SegmentMessage("alias", message_id, user_id, body)


def track(origin: Origin, event: str, properties: dict[str, Any], user_id: str) -> SegmentMessage:
    """A business Track event about the customer of ``origin``."""
    message_id = track_id(origin.project_key, event, origin.customer_id)
    body = _body(
        "track", message_id, user_id, origin.timestamp, event=event, properties=dict(properties)
    )
    return SegmentMessage("track", message_id, user_id, body)


def _body(
    kind: str, message_id: str, user_id: str, timestamp: str | None, **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "messageId": message_id, "userId": user_id}
    if timestamp:
        body["timestamp"] = timestamp
    body.update(fields)
    body["context"] = {"library": {"name": "ctsync", "version": __version__}}
    return body
