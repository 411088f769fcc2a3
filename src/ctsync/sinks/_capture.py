"""The capture sink: no write key, so messages are kept in the store and shown, not sent."""

from __future__ import annotations

from collections.abc import Sequence

from ctsync.sinks._base import SinkResult


class CaptureSink:
    """Accepts every batch; the drainer marks its messages ``captured``."""

    name = "capture"
    endpoint = "capture://"

    async def send(self, batch: Sequence[str]) -> SinkResult:
        del batch
        return SinkResult(status_code=None, latency_ms=0.0, captured=True)

    async def probe(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
