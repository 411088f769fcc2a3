"""The ``Sink`` seam: where delivery hands batches of Segment messages.

Shaped like httpx's ``BaseTransport``: one method that sends, one that closes.
A sink returns a ``SinkResult`` on success and raises ``RetryableError`` or
``PermanentError`` (ctsync.errors) otherwise, translated at its own edge.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 2500


@dataclass(frozen=True, slots=True)
class SinkResult:
    """A successful send: how the sink answered."""

    status_code: int | None
    latency_ms: float
    response: str | None = None
    captured: bool = False


class Sink(Protocol):
    """Somewhere Segment-shaped messages go: Segment, RudderStack, or the capture sink."""

    name: str
    endpoint: str

    async def send(self, batch: Sequence[str]) -> SinkResult:
        """Deliver the batch (each message as compact JSON text) as a whole.

        Raises RetryableError or PermanentError. Messages arrive encoded, as the
        outbox stores them, so the hot path never decodes and re-encodes them.
        """
        ...

    async def probe(self) -> None:
        """Check that the endpoint answers HTTP at all (readiness); raise when not."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def encoded_size(message: dict[str, Any]) -> int:
    """Bytes the message takes in a JSON request body."""
    return len(json.dumps(message, separators=(",", ":")).encode())


def validate_message(message: dict[str, Any], *, size: int | None = None) -> str | None:
    """Why Segment would drop this message (it answers 200 and drops it later), or None.

    ``size``: the bytes of the message as it will be sent, when the caller has encoded it.
    """
    if not (message.get("userId") or message.get("anonymousId")):
        return "no userId or anonymousId: Segment would drop it (no_user_anon_id)"
    mtype = message.get("type")
    if mtype == "track" and not message.get("event"):
        return "a track call without 'event': Segment would drop it"
    if mtype == "alias" and not message.get("previousId"):
        return "an alias call without 'previousId'"
    if mtype not in {"identify", "track", "alias", "group", "page", "screen"}:
        return f"unknown message type {mtype!r}"
    size = encoded_size(message) if size is None else size
    if size > MAX_MESSAGE_BYTES:
        return f"message is {size} bytes; Segment accepts at most {MAX_MESSAGE_BYTES} (32 KB)"
    return None


def chunk_batches(
    sizes: Sequence[int],
    *,
    max_bytes: int = MAX_BATCH_BYTES,
    max_count: int = MAX_BATCH_MESSAGES,
) -> list[list[int]]:
    """Split messages (given their encoded sizes) into request batches within Segment's limits."""
    envelope = 64  # {"batch":[...],"sentAt":"..."} around the items
    chunks: list[list[int]] = []
    current: list[int] = []
    size = envelope
    for i, message_size in enumerate(sizes):
        item = message_size + 1
        if current and (size + item > max_bytes or len(current) >= max_count):
            chunks.append(current)
            current, size = [], envelope
        current.append(i)
        size += item
    if current:
        chunks.append(current)
    return chunks
