"""The subscription watchdog: notice when commercetools stops delivering.

commercetools keeps a subscription's health in its ``status`` (Healthy,
ConfigurationError, ConfigurationErrorDeliveryStopped, ManuallySuspended,
TemporaryError); while it is not Healthy, changes stop reaching ctsync and
nothing else would say so. The watchdog reads it periodically (``serve`` and
``worker``; the cron drain on serverless; ``ctsync check`` on demand) and
turns anything but Healthy into a metric, an error log line and a readiness
note. Once delivery resumes, ``ctsync backfill customers --since <last event
seen>`` closes the gap; with CTSYNC_WATCHDOG_BACKFILL=true it runs by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ctsync import metrics
from ctsync.commercetools import CommercetoolsClient, NotFound
from ctsync.commercetools._subscriptions import HEALTH_STATUSES
from ctsync.errors import CtsyncError
from ctsync.logs import get_logger
from ctsync.store import Store

__all__ = ["SubscriptionHealth", "Watchdog", "gap_start"]

log = get_logger("ctsync.watchdog")
_MARGIN_S = 300.0  # a backfill starts this long before the last event seen (clock skew)

Recovered = Callable[[datetime | None], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class SubscriptionHealth:
    """One reading of the subscription's status (``status`` None: it could not be read)."""

    key: str
    status: str | None
    checked_at: float
    error: str | None = None

    @property
    def healthy(self) -> bool:
        return self.status == "Healthy"

    def note(self) -> str | None:
        """What readiness and ``ctsync check`` say when it is not Healthy."""
        if self.healthy:
            return None
        if self.status is None:
            return f"subscription {self.key!r} could not be read: {self.error}"
        return (
            f"subscription {self.key!r} is {self.status}: commercetools is not delivering; "
            "once fixed, `ctsync backfill customers --since <last event seen>` closes the gap"
        )

    def to_json(self) -> dict[str, Any]:
        """The reading as JSON (``/api/ready``)."""
        out: dict[str, Any] = {"key": self.key, "status": self.status, "checkedAt": self.checked_at}
        if self.error:
            out["error"] = self.error
        return out


class Watchdog:
    """Reads one subscription's status now and then, and remembers the last reading."""

    def __init__(
        self,
        client: CommercetoolsClient,
        key: str,
        store: Store,
        *,
        every_s: float = 300.0,
        on_recovered: Recovered | None = None,
    ) -> None:
        self.client = client
        self.key = key
        self.every_s = every_s
        self.latest: SubscriptionHealth | None = None
        self._store = store
        self._on_recovered = on_recovered
        self._gap_from: datetime | None = None

    async def check(self) -> SubscriptionHealth:
        """Read the status now; record it as a metric, and log it when not Healthy."""
        try:
            subscription = await self.client.get_subscription(self.key)
        except NotFound:
            error = "no subscription with this key (`ctsync subscription create`)"
            health = SubscriptionHealth(self.key, None, time.time(), error)
        except CtsyncError as exc:
            health = SubscriptionHealth(self.key, None, time.time(), str(exc))
        else:
            status = subscription.get("status")
            health = SubscriptionHealth(self.key, str(status), time.time())
        await self._record(health)
        return health

    async def check_if_due(self) -> SubscriptionHealth | None:
        """Check unless the last reading is recent (the cron drain calls this every time)."""
        if self.latest is not None and time.time() - self.latest.checked_at < self.every_s:
            return self.latest
        return await self.check()

    async def run(self, stop: asyncio.Event) -> None:
        """Check every ``every_s`` seconds until ``stop`` is set."""
        while not stop.is_set():
            await self.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every_s)

    async def _record(self, health: SubscriptionHealth) -> None:
        was_down = self.latest is not None and not self.latest.healthy
        self.latest = health
        for status in (*HEALTH_STATUSES, "Unreadable"):
            current = health.status or "Unreadable"
            metrics.SUBSCRIPTION.labels(key=self.key, status=status).set(status == current)
        if not health.healthy:
            log.error(
                "subscription_unhealthy",
                action="watchdog",
                key=self.key,
                status=health.status,
                error=health.error,
            )
            if self._gap_from is None and health.status is not None:
                self._gap_from = await asyncio.to_thread(gap_start, self._store)
            return
        if was_down and self._gap_from is not None:
            since, self._gap_from = self._gap_from, None
            log.warning("subscription_recovered", action="watchdog", key=self.key, since=since)
            if self._on_recovered is not None:
                await self._on_recovered(since)


def gap_start(store: Store) -> datetime | None:
    """Where a backfill closing a delivery gap starts: the last event seen, less a margin."""
    row = store.read(lambda c: c.one("last_event_seen"))
    if row is None or row["at"] is None:
        return None
    return datetime.fromtimestamp(float(row["at"]) - _MARGIN_S, tz=UTC)
