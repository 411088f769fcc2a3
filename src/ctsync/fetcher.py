"""Reads on demand: events without customer data are resolved by reading the customer.

A change notification (ResourceCreated/ResourceUpdated) or a message sent with
``payloadNotIncluded`` is recorded ``fetching``; a delta for a customer ctsync
has never seen is recorded ``waiting``. With CTP_* credentials, this loop, on
the delivery side (never inside the webhook's answer), claims such events,
reads the customer once per customer and records the read as the full
snapshot of its version (``backfill.read_event``): its Identify has the
messageId every snapshot of that version has, and the stale guard applies as
for any snapshot. Waiting deltas are released by that snapshot.

A subscription to both messages and changes announces one update twice. A
change notification therefore waits a few seconds (``settle_s``) and is
``ignored`` when a message of its version has arrived, since the messages
carry the change; otherwise (changes that produce no message)
it is read. A customer gone meanwhile (404) fails its events with that reason;
a transient failure is retried with backoff, up to ``max_attempts`` reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ctsync.backfill import read_event
from ctsync.commercetools import AuthFailed, CommercetoolsClient, NotFound
from ctsync.delivery import RetryPolicy
from ctsync.errors import CtsyncError, RetryableError
from ctsync.logs import get_logger
from ctsync.pipeline import Planner, record_event
from ctsync.store import Conn, Row, Store, storable_text

__all__ = ["FetchConfig", "FetchReport", "Fetcher"]

log = get_logger("ctsync.fetch")


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """How the read loop claims, spaces and retries its reads."""

    settle_s: float = 5.0
    lease_s: float = 30.0
    batch: int = 50
    concurrency: int = 4
    max_attempts: int = 20
    retry_base_s: float = 1.0
    retry_cap_s: float = 3600.0


@dataclass(slots=True)
class FetchReport:
    """What one pass did, by outcome."""

    claimed: int = 0
    read: int = 0
    covered: int = 0
    gone: int = 0
    retried: int = 0
    failed: int = 0

    def to_json(self) -> dict[str, Any]:
        """The report as JSON (``ctsync drain`` and the cron route show it)."""
        return {
            "claimed": self.claimed,
            "read": self.read,
            "covered": self.covered,
            "gone": self.gone,
            "retried": self.retried,
            "failed": self.failed,
        }


class Fetcher:
    """Claims events that need an API read and resolves them."""

    def __init__(
        self,
        store: Store,
        client: CommercetoolsClient,
        planner: Planner,
        config: FetchConfig,
        *,
        horizon_s: float,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self._planner = planner
        self._config = config
        self._horizon = horizon_s
        self._on_queued = on_queued or (lambda: None)
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """Something may need a read now (the webhook recorded such an event)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, *, idle_s: float = 1.0) -> None:
        """Resolve due events until ``stop`` is set; a failing pass is logged, not fatal."""
        while not stop.is_set():
            try:
                report = await self.fetch_due()
            except CtsyncError as exc:
                log.warning("fetch_pass_failed", action="fetch", error=str(exc))
                report = FetchReport()
            if report.claimed:
                continue
            self._wake.clear()
            waits = [asyncio.ensure_future(e.wait()) for e in (stop, self._wake)]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.wait(waits, return_when="FIRST_COMPLETED"), idle_s)
            for w in waits:
                w.cancel()

    async def fetch_due(self, *, budget_s: float | None = None) -> FetchReport:
        """Resolve what is due now, a batch at a time, within ``budget_s`` when given."""
        report = FetchReport()
        limit = asyncio.Semaphore(self._config.concurrency)

        async def one(group: list[Row]) -> None:
            async with limit:
                await self._resolve(group, report)

        deadline = None if budget_s is None else time.monotonic() + budget_s
        while deadline is None or time.monotonic() < deadline:
            rows = await self._claim()
            if not rows:
                break
            report.claimed += len(rows)
            groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
            for row in rows:
                groups[(row["project_key"], row["resource_id"])].append(row)
            await asyncio.gather(*(one(g) for g in groups.values()))
        return report

    async def _claim(self) -> list[Row]:
        now, cfg = time.time(), self._config
        return await self.store.awrite(
            lambda c: c.all(
                "claim_reads",
                now=now,
                lease_until=now + cfg.lease_s,
                settle=cfg.settle_s,
                max_attempts=cfg.max_attempts,
                limit=cfg.batch,
            ),
            durable=False,
        )

    async def _resolve(self, rows: list[Row], report: FetchReport) -> None:
        rows = await self._drop_covered(rows, report)
        if not rows:
            return
        project = self.client.config.project_key
        if rows[0]["project_key"] != project:
            report.failed += len(rows)
            reason = f"the API client (CTP_PROJECT_KEY) reads project {project!r}, not this one"
            await self._settle(rows, status="failed", reason=reason)
            return
        try:
            customer = await self.client.get_customer(rows[0]["resource_id"])
        except NotFound:
            report.gone += len(rows)
            reason = "the customer no longer exists in commercetools (HTTP 404 on read)"
            await self._settle(rows, status="failed", reason=reason)
            return
        except (RetryableError, AuthFailed) as exc:
            await self._retry_later(rows, exc, report)
            return
        except CtsyncError as exc:
            report.failed += len(rows)
            await self._settle(rows, status="failed", reason=f"reading the customer: {exc}")
            return
        report.read += 1
        await self._record(rows, customer)

    async def _drop_covered(self, rows: list[Row], report: FetchReport) -> list[Row]:
        """Ignore change notifications whose version a message already carried."""
        changes = [r for r in rows if _is_change(r) and r["resource_version"] is not None]
        if not changes:
            return rows

        def find(c: Conn) -> dict[int, int]:
            found = {}
            for r in changes:
                hit = c.one(
                    "covering_message",
                    project_key=r["project_key"],
                    resource_id=r["resource_id"],
                    version=r["resource_version"],
                )
                if hit is not None:
                    found[int(r["id"])] = int(hit["id"])
            return found

        covered = await asyncio.to_thread(self.store.read, find)
        for row in (r for r in rows if r["id"] in covered):
            report.covered += 1
            reason = f"the messages of this version carry the change (event #{covered[row['id']]})"
            await self._settle([row], status="ignored", reason=reason)
        return [r for r in rows if r["id"] not in covered]

    async def _record(self, rows: list[Row], customer: dict[str, Any]) -> None:
        """Record the read as the snapshot of its version; resolve the claimed events by it."""
        project = rows[0]["project_key"]
        event = read_event(project, customer, via="api")
        now, planner, horizon = time.time(), self._planner, self._horizon

        def write(c: Conn) -> None:
            result = record_event(c, event, planner=planner, now=now, horizon_s=horizon)
            version = event.resource_version
            reason = f"read from the API at version {version}: event #{result.event_id}"
            for row in rows:
                if row["status"] == "fetching":
                    _set_status(c, row, status=result.status, reason=reason)

        await self.store.awrite(write)
        self._on_queued()

    async def _settle(self, rows: list[Row], *, status: str, reason: str) -> None:
        text = storable_text(reason)

        def write(c: Conn) -> None:
            for r in rows:
                _set_status(c, r, status=status, reason=text)

        await self.store.awrite(write)

    async def _retry_later(self, rows: list[Row], exc: CtsyncError, report: FetchReport) -> None:
        cfg = self._config
        attempts = max(int(r["fetch_attempts"]) for r in rows)
        if attempts >= cfg.max_attempts:
            report.failed += len(rows)
            reason = f"could not read the customer after {attempts} attempts: {exc}"
            await self._settle(rows, status="failed", reason=reason)
            return
        report.retried += len(rows)
        log.warning("customer_read_failed", action="fetch", error=str(exc), attempts=attempts)
        policy = RetryPolicy(base_s=cfg.retry_base_s, cap_s=cfg.retry_cap_s)
        retry_after = getattr(exc, "retry_after", None)
        at = policy.next_at(failures=attempts, now=time.time(), retry_after=retry_after)

        def write(c: Conn) -> None:
            for r in rows:
                c.run("reschedule_read", id=r["id"], at=at, expected=r["status"])

        await self.store.awrite(write)


def _is_change(row: Row) -> bool:
    return row["kind"] == "change" and row["message_id"] is None


def _set_status(c: Conn, row: Row, *, status: str, reason: str) -> None:
    c.run(
        "set_event_status",
        id=row["id"],
        expected=row["status"],
        status=status,
        reason=reason,
        user_id=None,
    )
