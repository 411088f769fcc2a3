"""The running pieces built from Settings, shared by the web app and the CLI.

One place decides which store, sink and mapping a process uses, so `serve`,
`worker`, `drain` and the Vercel function behave the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from dataclasses import dataclass, field, replace

import anyio.to_thread
from pydantic import SecretStr

from ctsync.config import Settings
from ctsync.delivery import Drainer, Lanes, drainer_config
from ctsync.errors import ConfigError, CtsyncError
from ctsync.ingress._model import CtEvent
from ctsync.logs import get_logger
from ctsync.mapping import MappingOptions
from ctsync.mapping._types import DEFAULT_DESTINATION
from ctsync.pipeline import Planner, RecordResult, default_planner, record_event, record_rejected
from ctsync.sinks import Sink, SinkSpec, build_sink, make_sink
from ctsync.store import Store, open_store
from ctsync.store._ops import purge

__all__ = ["Runtime", "mapping_options"]

log = get_logger("ctsync.service")


@dataclass
class Runtime:
    """Store, sink, drainer and mapping of one process."""

    settings: Settings
    store: Store
    sink: Sink
    drainer: Drainer | Lanes
    planner: Planner
    started_at: float = field(default_factory=time.time)

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
        options = mapping_options(settings)
        keys = {d.name: _write_key(d.name, d.write_key_env) for d in options.destinations}
        store = store or open_store(settings.database_url, timeout=settings.store_timeout_s)
        if migrate:
            store.migrate()
        sink = sink or make_sink(settings)
        default = Drainer(store, sink, drainer_config(settings))
        drainer = _lanes(store, default, options, keys, settings) if keys else default
        return cls(settings, store, sink, drainer, default_planner(options))

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
        return self.store.write(lambda c: purge(c, before=before))

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

    async def aclose(self) -> None:
        """Close the sinks and the store."""
        if isinstance(self.drainer, Lanes):
            await self.drainer.aclose()
        await self.sink.aclose()
        self.store.close()


def _lanes(
    store: Store,
    default: Drainer,
    options: MappingOptions,
    keys: dict[str, SecretStr | None],
    settings: Settings,
) -> Lanes:
    """One lane for the default destination and one per destination of the mapping file."""
    drainers, sinks = {DEFAULT_DESTINATION: default}, {}
    for dest in options.destinations:
        sinks[dest.name] = sink = build_sink(
            SinkSpec(
                name=dest.name,
                type=dest.type,
                endpoint=dest.endpoint,
                write_key=keys[dest.name],
                timeout_s=settings.sink_timeout_s,
            )
        )
        config = replace(
            drainer_config(settings), destination=dest.name, rate_limit=dest.rate_limit
        )
        drainers[dest.name] = Drainer(store, sink, config)
    return Lanes(drainers, sinks)


def _write_key(destination: str, env_name: str | None) -> SecretStr | None:
    """A destination's key, from the variable its mapping file names.

    The one read of the environment outside Settings: the mapping file chooses
    these names, so Settings cannot declare them. Read once, at start.
    """
    if env_name is None:
        return None
    value = os.environ.get(env_name)
    if not value:
        msg = f"destination {destination!r}: environment variable {env_name} is not set"
        raise ConfigError(msg)
    return SecretStr(value)


def mapping_options(settings: Settings) -> MappingOptions:
    """The mapping of ``CTSYNC_MAPPING`` (MappingFileError when bad), else the built-in one."""
    if settings.mapping_path is None:
        return MappingOptions()  # the same as default.yaml (a test keeps them equal)
    from ctsync.mapping.file import load_mapping  # noqa: PLC0415 - YAML only when needed

    return load_mapping(settings.mapping_path)


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
