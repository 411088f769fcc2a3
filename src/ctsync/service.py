"""The running pieces built from Settings, shared by the web app and the CLI.

One place decides which store, sink and mapping a process uses, so `serve`,
`worker`, `drain` and the Vercel function behave the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from ctsync import metrics
from ctsync.config import Settings
from ctsync.delivery import Drainer, Lanes, drainer_config
from ctsync.errors import CtsyncError
from ctsync.ingress._model import CtEvent
from ctsync.logs import get_logger
from ctsync.pipeline import Planner, RecordResult, default_planner, record_event, record_rejected
from ctsync.routing import build_lanes, destination_keys, mapping_options
from ctsync.sinks import Sink, make_sink
from ctsync.store import Store, open_store
from ctsync.store._ops import purge
from ctsync.store._refused import NO_DATABASE_ON_VERCEL, RefusingStore

if TYPE_CHECKING:
    from datetime import datetime

    from ctsync.commercetools import CommercetoolsClient
    from ctsync.fetcher import Fetcher
    from ctsync.watchdog import Watchdog

__all__ = ["Runtime", "mapping_options"]  # mapping_options: re-exported from ctsync.routing

log = get_logger("ctsync.service")


@dataclass
class Runtime:
    """Store, sink, drainer and mapping of one process."""

    settings: Settings
    store: Store
    sink: Sink
    drainer: Drainer | Lanes
    planner: Planner
    api: CommercetoolsClient | None = None  # the commercetools API (CTP_* credentials set)
    fetcher: Fetcher | None = None  # resolves events that need an API read
    watchdog: Watchdog | None = None  # watches the subscription's health
    started_at: float = field(default_factory=time.time)
    # What retention removed since this process started (shown on the dashboard).
    purged: dict[str, int] = field(default_factory=dict)
    _gap_backfill: asyncio.Task[Any] | None = None

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        store: Store | None = None,
        sink: Sink | None = None,
        migrate: bool = True,
    ) -> Runtime:
        """Open the configured store (applying migrations) and sinks.

        The mapping and its destinations' keys are checked first: a bad one stops
        start-up before anything is opened.
        """
        options = replace(mapping_options(settings), api_reads=settings.ctp_configured)
        keys = destination_keys(options)
        store = store or _open_configured_store(settings)
        if migrate:
            _migrate(settings, store)
        sink = sink or make_sink(settings)
        default = Drainer(store, sink, drainer_config(settings))
        drainer = build_lanes(store, default, options, keys, settings) if keys else default
        rt = cls(settings, store, sink, drainer, default_planner(options))
        if settings.ctp_configured:
            rt._open_api()
        return rt

    def _open_api(self) -> None:
        """The API client, the read loop and the watchdog (imported only when configured)."""
        from ctsync.commercetools import ApiConfig, CommercetoolsClient  # noqa: PLC0415
        from ctsync.fetcher import FetchConfig, Fetcher  # noqa: PLC0415
        from ctsync.watchdog import Watchdog  # noqa: PLC0415

        s = self.settings
        self.api = CommercetoolsClient(ApiConfig.from_settings(s))
        config = FetchConfig(
            settle_s=s.fetch_settle_s,
            lease_s=s.lease_s,
            retry_base_s=s.retry_base_s,
            retry_cap_s=s.retry_cap_s,
        )
        self.fetcher = Fetcher(
            self.store,
            self.api,
            self.planner,
            config,
            horizon_s=s.retry_horizon_s,
            on_queued=self.drainer.notify,
        )
        self.watchdog = Watchdog(
            self.api,
            s.subscription_key,
            self.store,
            every_s=s.watchdog_interval_s,
            on_recovered=self._close_gap,
        )

    async def _close_gap(self, since: datetime | None) -> None:
        """Delivery resumed: backfill what changed meanwhile (CTSYNC_WATCHDOG_BACKFILL)."""
        if not self.settings.watchdog_backfill or self.api is None or since is None:
            return
        if self._gap_backfill is not None and not self._gap_backfill.done():
            return
        from ctsync.backfill import BackfillOptions, run_backfill  # noqa: PLC0415

        log.warning("gap_backfill", action="watchdog", since=since.isoformat())
        options = BackfillOptions(since=since)
        self._gap_backfill = asyncio.create_task(
            run_backfill(
                self.store, self.api, self.planner, options, horizon_s=self.settings.retry_horizon_s
            )
        )

    async def record(self, event: CtEvent) -> RecordResult:
        """Store one event durably, with its messages; returns what to tell the sender."""
        now = time.time()
        horizon = self.settings.retry_horizon_s
        regulation = self.settings.regulation_type if self.settings.regulations_enabled else None
        return await self.store.awrite(
            lambda c: record_event(
                c,
                event,
                planner=self.planner,
                now=now,
                horizon_s=horizon,
                regulation_type=regulation,
            )
        )

    async def reject(self, event: CtEvent, reason: str) -> RecordResult:
        """Keep a delivery that can never be processed, with its reason."""
        now = time.time()
        return await self.store.awrite(lambda c: record_rejected(c, event, reason=reason, now=now))

    def purge_expired(self) -> dict[str, int]:
        """Remove personal data past CTSYNC_RETENTION_DAYS (dead letters stay)."""
        before = time.time() - self.settings.retention_days * 86400
        removed = self.store.write(lambda c: purge(c, before=before))
        for kind, n in removed.items():
            self.purged[kind] = self.purged.get(kind, 0) + n
            if n:
                metrics.RETENTION_PURGED.labels(kind=kind).inc(n)
        return removed

    async def maintain(self, stop: asyncio.Event, *, every_s: float = 3600.0) -> None:
        """Purge expired personal data now and then; follow regulations; until ``stop``."""
        if self.settings.regulations_enabled:
            await asyncio.gather(self._purge_loop(stop, every_s), self._regulate(stop))
        else:
            await self._purge_loop(stop, every_s)

    async def _regulate(self, stop: asyncio.Event) -> None:
        """Request and poll Segment deletion regulations (SEGMENT_PUBLIC_API_TOKEN set)."""
        from ctsync.regulations import RegulationClient, process_regulations  # noqa: PLC0415

        client = RegulationClient(self.settings)
        poll = self.settings.regulation_poll_s
        try:
            while not stop.is_set():
                try:
                    await process_regulations(self.store, client, poll_s=poll)
                except CtsyncError as exc:
                    log.warning("regulate_failed", action="regulate", error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=min(poll, 5.0))
        finally:
            await client.aclose()

    async def _purge_loop(self, stop: asyncio.Event, every_s: float) -> None:
        while True:
            try:
                removed = await anyio.to_thread.run_sync(self.purge_expired)
            except CtsyncError as exc:
                log.warning("purge_failed", action="purge", error=str(exc))
            else:
                if any(removed.values()):
                    log.info("purged", action="purge", **removed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)
            if stop.is_set():
                return

    async def background(self, stop: asyncio.Event) -> None:
        """The periodic jobs of a long-running process (serve, worker), until ``stop``."""
        from ctsync.staged import QueueConfig, run_queue_loop  # noqa: PLC0415

        jobs = [
            self.maintain(stop),
            run_queue_loop(
                self.store,
                self.planner,
                stop,
                horizon_s=self.settings.retry_horizon_s,
                idle_s=self.settings.drain_interval_s,
                config=QueueConfig(lease_s=self.settings.lease_s),
                on_queued=self.drainer.notify,
            ),
        ]
        if self.fetcher is not None:
            jobs.append(self.fetcher.run(stop, idle_s=self.settings.drain_interval_s))
        if self.watchdog is not None:
            jobs.append(self.watchdog.run(stop))
        await asyncio.gather(*jobs)

    async def drain_due(self, *, budget_s: float | None = None) -> dict[str, Any]:
        """What ``ctsync drain`` and the cron drain do: queue what backfills read, resolve
        API reads, deliver. The first two get a third of ``budget_s`` each; delivery what
        is left, and never less than its third.
        """
        share = None if budget_s is None else budget_s / 3
        started = time.monotonic()
        staged = await self.queue_staged(budget_s=share)
        reads = await self.read_due(budget_s=share)
        left = None if share is None else max(share, share * 3 - (time.monotonic() - started))
        found: dict[str, Any] = (await self.drainer.drain(budget_s=left)).to_json()
        if reads is not None:
            found["reads"] = reads
        if staged:
            found["backfillPages"] = staged
        return found

    async def queue_staged(self, *, budget_s: float | None = None) -> dict[str, Any] | None:
        """Queue the pages backfills stored (the cron drain and ``ctsync drain``).

        None when there were none; what was queued otherwise.
        """
        from ctsync.staged import QueueConfig, queue_staged  # noqa: PLC0415

        try:
            report = await queue_staged(
                self.store,
                self.planner,
                horizon_s=self.settings.retry_horizon_s,
                budget_s=budget_s,
                config=QueueConfig(lease_s=self.settings.lease_s),
            )
        except CtsyncError as exc:
            log.warning("staged_pass_failed", action="backfill", error=str(exc))
            return None
        return report.to_json() if report.pages else None

    async def read_due(self, *, budget_s: float | None = None) -> dict[str, int] | None:
        """Resolve events that wait for an API read (the cron drain and ``ctsync drain``)."""
        if self.fetcher is None:
            return None
        try:
            report = await self.fetcher.fetch_due(budget_s=budget_s)
        except CtsyncError as exc:
            log.warning("fetch_pass_failed", action="fetch", error=str(exc))
            return None
        return report.to_json()

    async def aclose(self) -> None:
        """Close the sinks, the API client and the store."""
        if isinstance(self.drainer, Lanes):
            await self.drainer.aclose()
        if self._gap_backfill is not None:
            self._gap_backfill.cancel()
            with contextlib.suppress(asyncio.CancelledError, CtsyncError):
                await self._gap_backfill
        await self.sink.aclose()
        if self.api is not None:
            await self.api.aclose()
        self.store.close()


def _migrate(settings: Settings, store: Store) -> None:
    """Apply migrations, through the direct URL when the main one goes through a pooler."""
    direct = settings.database_url_unpooled
    if direct is None or store.dialect != "postgres" or isinstance(store, RefusingStore):
        store.migrate()
        return
    unpooled = open_store(direct, timeout=settings.store_timeout_s)
    try:
        unpooled.migrate()
    finally:
        unpooled.close()


def _open_configured_store(settings: Settings) -> Store:
    """The store DATABASE_URL names; on Vercel, never a SQLite file (it would not survive)."""
    if settings.vercel and settings.store_kind == "sqlite":
        log.error("no_database", action="start", error=NO_DATABASE_ON_VERCEL)
        return RefusingStore(NO_DATABASE_ON_VERCEL)
    return open_store(settings.database_url, timeout=settings.store_timeout_s)


def freeze_startup_heap() -> None:
    """Keep what start-up made (modules, the app, the runtime) out of later collections.

    CPython's full garbage collection walks every tracked object; with the framework
    loaded, one took 30-50 ms every few seconds and stalled the requests in flight
    (accept p99 at c=8: about 34 ms before, 14 ms after; bench/RESULTS.md). Those
    objects live as long as the process anyway. For long-running processes only:
    cycles frozen here are never collected.
    """
    gc.collect()
    gc.freeze()
