"""What an envelope carried: commercetools payloads, or a handshake to answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Item", "Unwrapped", "delivery_id", "header_flag", "one_of"]

_MAX_ID_CHARS = 256


@dataclass(frozen=True, slots=True)
class Item:
    """One commercetools payload inside an envelope (or the reason it is unusable).

    ``payload`` is the decoded commercetools payload, or, when ``error`` is set,
    the envelope's piece as received (JSON-safe), so a rejected delivery stays
    visible. ``delivery_id`` is the envelope's own id (Pub/Sub messageId, SNS
    MessageId, CloudEvent id, EventBridge id): not the dedupe key, which stays
    the commercetools message id, so one message via two envelopes is a duplicate.
    """

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
    ``confirm_url``: an SNS SubscribeURL to GET before answering.
    """

    items: list[Item] = field(default_factory=list)
    batch: bool = False
    cloud: bool = False
    reply: dict[str, Any] | None = None
    reply_headers: dict[str, str] = field(default_factory=dict)
    confirm_url: str | None = None


def delivery_id(value: Any) -> str | None:
    """An envelope's id if it is a usable string (short, printable: it is logged), else None."""
    if isinstance(value, str) and 0 < len(value) <= _MAX_ID_CHARS and value.isprintable():
        return value
    return None


def one_of(value: Any, choices: frozenset[str]) -> bool:
    """``value in choices`` for any JSON value (a list or object would raise TypeError)."""
    return isinstance(value, str) and value in choices


def header_flag(headers: Mapping[str, str], name: str) -> bool:
    """True when header ``name`` says ``true`` (any case, surrounding spaces ignored)."""
    return headers.get(name, "").strip().lower() == "true"
