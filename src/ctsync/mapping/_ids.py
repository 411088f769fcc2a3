"""Deterministic Segment messageIds: a hash of what a call says, not of how it arrived.

Segment deduplicates on messageId, so a redelivery, an API read and a backfill
of the same customer version must yield the same id, while two calls of one
update (same version, consecutive sequenceNumbers, possibly the same type) stay
distinct: a delta's id includes its sequenceNumber, else its commercetools message
id; a full snapshot's does not, so live, read and backfill of a version coincide.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SNAPSHOT",
    "Origin",
    "call_id",
    "destination_id",
    "payload_digest",
    "track_id",
    "version_token",
]

# Fixed for ever: changing it changes every messageId and defeats Segment's dedupe.
_NAMESPACE = uuid.UUID("ea9bbe2e-60d3-554a-ae41-8a62524c5c2b")

SNAPSHOT = "snapshot"
"""The message-type part of the id of every full snapshot, whatever its source."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a planned call comes from: the parts of its messageId, and its timestamp."""

    project_key: str
    customer_id: str
    version: int | None
    token: str
    source: str
    timestamp: str | None
    occurrence: str | None = None
    """A delta's sequenceNumber (else its CT message id); None for a full snapshot."""


def version_token(version: int | None, message_id: str | None, payload: Any) -> str:
    """The resource version, else the CT message id, else a hash of the payload."""
    if version is not None:
        return str(version)
    if message_id:
        return message_id
    return "h" + payload_digest(payload)


def payload_digest(payload: Any) -> str:
    """A stable short hash of a JSON value (key order does not matter)."""
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(raw.encode("ascii")).hexdigest()[:32]


def call_id(origin: Origin, position: int) -> str:
    """The messageId of an Identify or Alias at ``position`` in its plan."""
    parts: tuple[object, ...] = (origin.project_key, origin.customer_id, origin.token)
    parts += (origin.source,) if origin.occurrence is None else (origin.source, origin.occurrence)
    return _uuid(*parts, position)


def track_id(project_key: str, event: str, business_id: str) -> str:
    """The messageId of a business Track event (one per event name and business id)."""
    return _uuid(project_key, event, business_id)


def destination_id(message_id: str, destination: str) -> str:
    """The messageId of a call sent to a named destination (not the default one).

    Segment deduplicates across workspaces, so each destination gets an id of
    its own, derived from the call's, and as stable.
    """
    return _uuid(message_id, destination)


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(str(p) for p in parts)))
