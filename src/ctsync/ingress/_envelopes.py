"""Envelopes: how a commercetools payload arrives at the HTTP endpoint.

``unwrap`` recognises the envelope from the decoded body and headers and
returns the commercetools payloads inside it, plus any handshake answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ctsync.errors import InputError


@dataclass(frozen=True, slots=True)
class Item:
    """One commercetools payload inside an envelope (or the reason it is unusable)."""

    envelope: str
    payload: Any
    delivery_id: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Unwrapped:
    """What a request carried.

    ``cloud``: the sender is a cloud queue that would redeliver a 4xx for days,
    so an unusable item is recorded as ``rejected`` and acknowledged with 2xx.
    ``reply``: a handshake answer to send instead of processing anything.
    """

    items: list[Item] = field(default_factory=list)
    batch: bool = False
    cloud: bool = False
    reply: dict[str, Any] | None = None
    reply_headers: dict[str, str] = field(default_factory=dict)


def unwrap(data: Any, headers: Mapping[str, str]) -> Unwrapped:
    """The commercetools payloads in a request body (Platform format sent directly)."""
    del headers
    if isinstance(data, list):
        msg = (
            "a JSON array is not a commercetools delivery (only Event Grid and CloudEvents "
            "batches are arrays)"
        )
        raise InputError(msg)
    if not isinstance(data, dict):
        msg = "a commercetools delivery must be a JSON object"
        raise InputError(msg)
    return Unwrapped(items=[Item("direct", data)])
