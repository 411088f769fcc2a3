"""The typed form of one commercetools delivery, after its envelope is removed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

EventKind = Literal["message", "change", "snapshot"]


@dataclass(frozen=True, slots=True)
class CtEvent:
    """One commercetools message, change notification or seed-format snapshot.

    ``payload`` is the Platform-format payload as commercetools sent it (message
    fields flattened in). ``dedupe_key`` identifies the delivery: the message id
    for messages, resource id + version + type for change notifications, a hash
    of the payload otherwise.
    """

    kind: EventKind
    type: str
    project_key: str
    resource_type: str
    resource_id: str
    resource_version: int | None
    message_id: str | None
    created_at: str | None
    dedupe_key: str
    payload: dict[str, Any] = field(repr=False)
    sequence_number: int | None = None
    payload_included: bool = True
    envelope: str = "direct"
