"""The Segment HTTP Tracking API sink (``/v1/batch``), also RudderStack's data plane."""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from ctsync.errors import PermanentError, RetryableError
from ctsync.sinks._base import SinkResult

_KEEP = 1000  # characters of a response body kept with an attempt


class SegmentSink:
    """POSTs batches to ``{endpoint}/v1/batch`` with Basic auth (write key as user)."""

    name = "segment"

    def __init__(
        self,
        *,
        write_key: str,
        endpoint: str,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        token = base64.b64encode(f"{write_key}:".encode()).decode()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            headers={"Authorization": f"Basic {token}", "User-Agent": "ctsync"},
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"SegmentSink(endpoint={self.endpoint!r}, write_key=***)"

    async def send(self, batch: Sequence[str]) -> SinkResult:
        sent_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        # The messages are already compact JSON (as stored): join them, don't re-encode.
        content = f'{{"batch":[{",".join(batch)}],"sentAt":"{sent_at}"}}'.encode()
        started = time.perf_counter()
        try:
            response = await self._client.post(
                f"{self.endpoint}/v1/batch",
                content=content,
                headers={"Content-Type": "application/json"},
            )
        except httpx.TimeoutException as exc:
            msg = f"timeout talking to {self.endpoint}: {type(exc).__name__}"
            raise RetryableError(msg) from exc
        except httpx.HTTPError as exc:
            msg = f"network error talking to {self.endpoint}: {type(exc).__name__}: {exc}"
            raise RetryableError(msg) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        return _judge(response, latency_ms)

    async def probe(self) -> None:
        try:
            await self._client.get(self.endpoint, timeout=3.0)
        except httpx.HTTPError as exc:
            msg = f"{self.endpoint} does not answer: {type(exc).__name__}"
            raise RetryableError(msg) from exc

    async def aclose(self) -> None:
        await self._client.aclose()


def _judge(response: httpx.Response, latency_ms: float) -> SinkResult:
    code = response.status_code
    body = response.text[:_KEEP]
    if 200 <= code < 300:
        return SinkResult(status_code=code, latency_ms=latency_ms, response=body)
    # 401/403 mean a bad or rotated write key, not a bad message: retried (and reported)
    # until the key is fixed, never a dead letter for the whole backlog at once.
    if code in {401, 403, 408, 429} or code >= 500:
        raise RetryableError(
            f"HTTP {code} from Segment",
            status_code=code,
            response=body,
            retry_after=_retry_after(response.headers.get("retry-after")),
        )
    raise PermanentError(f"HTTP {code} from Segment", status_code=code, response=body)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if unusable.

    The retry policy caps what it honours; here only what cannot be a wait is refused
    (inf, nan, dates no datetime can hold), so that it falls back to the backoff.
    """
    if not value:
        return None
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value)
    if seconds is None or not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _seconds_until(value: str) -> float | None:
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return (when - datetime.now(UTC)).total_seconds()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
