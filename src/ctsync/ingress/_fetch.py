"""Small public documents (signing certificates, token keys) fetched over https and kept.

SNS signing certificates and Google's token keys change rarely and are the
same for every request: each is fetched once, kept for its Cache-Control
max-age (bounded), and concurrent requests share one fetch. When a refresh
fails, the copy already held is used rather than turning senders away.
A client is opened per fetch: fetches are rare, and the web app's lifespan
(which would close a shared client) belongs to another module.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from ctsync.errors import CtsyncError
from ctsync.logs import get_logger

__all__ = ["DocumentCache", "FetchError"]

log = get_logger("ctsync.ingress")

_MAX_DOCUMENT_BYTES = 256 * 1024
_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)")


class FetchError(CtsyncError):
    """A document could not be fetched (network, status, size)."""


@dataclass(frozen=True, slots=True)
class _Entry:
    body: bytes
    fetched_at: float
    expires_at: float


class DocumentCache:
    """GET small documents over https, once per max-age, never more than one fetch at a time."""

    def __init__(
        self,
        *,
        default_ttl_s: float = 3600.0,
        min_ttl_s: float = 60.0,
        max_ttl_s: float = 86400.0,
        timeout_s: float = 5.0,
        max_entries: int = 32,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._default_ttl = default_ttl_s
        self._ttl_bounds = (min_ttl_s, max_ttl_s)
        self._timeout = timeout_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, url: str, *, refresh_if_older_than: float | None = None) -> bytes:
        """The document at ``url``; refetched when expired or older than the given age."""
        entry = self._usable(url, refresh_if_older_than)
        if entry is not None:
            return entry.body
        lock = self._locks.setdefault(url, asyncio.Lock())
        try:
            async with lock:
                entry = self._usable(url, refresh_if_older_than)  # fetched while we waited?
                return entry.body if entry is not None else await self._refresh(url)
        finally:
            if not lock.locked():
                self._locks.pop(url, None)

    def _usable(self, url: str, max_age: float | None) -> _Entry | None:
        entry = self._entries.get(url)
        now = self._clock()
        if entry is None or now >= entry.expires_at:
            return None
        if max_age is not None and now - entry.fetched_at > max_age:
            return None
        return entry

    async def _refresh(self, url: str) -> bytes:
        stale = self._entries.get(url)
        try:
            body, ttl = await self._fetch(url)
        except FetchError as exc:
            if stale is None:
                raise
            log.warning("document_refresh_failed", action="fetch", url=url, error=str(exc))
            return stale.body
        now = self._clock()
        if url not in self._entries and len(self._entries) >= self._max_entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[url] = _Entry(body, now, now + ttl)
        return body

    async def _fetch(self, url: str) -> tuple[bytes, float]:
        try:
            async with (
                httpx.AsyncClient(timeout=self._timeout) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    msg = f"{url} answered {response.status_code}"
                    raise FetchError(msg)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_DOCUMENT_BYTES:
                        msg = f"{url} is over {_MAX_DOCUMENT_BYTES} bytes"
                        raise FetchError(msg)
                return bytes(body), self._ttl(response.headers.get("cache-control", ""))
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            msg = f"cannot fetch {url}: {type(exc).__name__}"
            raise FetchError(msg) from exc

    def _ttl(self, cache_control: str) -> float:
        match = _MAX_AGE.search(cache_control)
        ttl = float(match.group(1)) if match else self._default_ttl
        low, high = self._ttl_bounds
        return min(max(ttl, low), high)
