"""Backfill: what commercetools already holds, sent as full snapshots through the live path.

Each customer read from the API becomes the same event a snapshot delivery of
that version would be (``read_event``) and is recorded as ``record_event``
would record it (a page at a time, by ``record_page``), so its messageId is
the one a CustomerCreated message, a change notification read or an earlier
run of the same version yields: a rerun or a live event adds no second
message. A page's events and the backfill's cursor commit in one transaction,
so a run killed at any point resumes after its last stored page. One page is
fetched while the previous one is stored (constant memory: at most three pages
in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ctsync._record_page import record_page
from ctsync.commercetools import CommercetoolsClient
from ctsync.errors import ConfigError, CtsyncError, InputError
from ctsync.ingress._model import CtEvent
from ctsync.pipeline import Planner
from ctsync.store import Conn, Row, Store

__all__ = [
    "BackfillOptions",
    "BackfillProgress",
    "list_backfills",
    "read_event",
    "run_backfill",
]

BackfillResource = Literal["customers", "orders"]
Reporter = Callable[["BackfillProgress"], None]
_TYPE_ID = {"customers": "customer", "orders": "order"}


@dataclass(frozen=True, slots=True)
class BackfillOptions:
    """What to backfill: a resource, optionally filtered, all or ``limit`` of it."""

    resource: BackfillResource = "customers"
    since: datetime | None = None
    where: tuple[str, ...] = ()
    limit: int | None = None
    dry_run: bool = False
    restart: bool = False
    page_size: int = 500

    def predicates(self) -> list[str]:
        """The query predicates: ``--where`` as given, ``--since`` on lastModifiedAt."""
        found = list(self.where)
        if self.since is not None:
            found.append(f'lastModifiedAt >= "{ct_datetime(self.since)}"')
        return found

    def name(self, project_key: str) -> str:
        """The backfill's identity: a rerun with the same filters resumes it."""
        filters = json.dumps(self.predicates(), separators=(",", ":"))
        digest = hashlib.sha256(filters.encode()).hexdigest()[:12]
        return f"{self.resource}:{project_key}:{digest}"


@dataclass(slots=True)
class BackfillProgress:
    """Where a run stands: shown by the progress bar and returned at the end."""

    name: str
    total: int | None
    processed: int = 0
    queued: int = 0
    resumed_after: str | None = None
    status: str = "running"
    statuses: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    done_before: int = 0  # processed by earlier, interrupted runs

    def to_json(self) -> dict[str, Any]:
        """The run's outcome, for ``--json`` and the command's last line."""
        return {
            "name": self.name,
            "status": self.status,
            "total": self.total,
            "processed": self.processed,
            "queued": self.queued,
            "resumedAfter": self.resumed_after,
            "events": dict(self.statuses),
        }


def ct_datetime(moment: datetime) -> str:
    """commercetools' DateTime literal: UTC, milliseconds, ``Z``."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_event(
    project_key: str, resource: dict[str, Any], *, type_id: str = "customer", via: str = "api"
) -> CtEvent:
    """A resource read from the API as the snapshot event of its version.

    Its dedupe key is the seed format's for the same customer version, so a
    read, a rerun and a snapshot delivery of one version are one event.
    """
    rid, version = resource.get("id"), resource.get("version")
    if not isinstance(rid, str) or not rid:
        msg = f"a {type_id} read from the API has no id"
        raise InputError(msg)
    version = version if isinstance(version, int) and not isinstance(version, bool) else None
    key = f"v{version}" if version is not None else "h" + _digest(resource)
    prefix = "snap" if type_id == "customer" else f"snap:{type_id}"
    modified = resource.get("lastModifiedAt")
    # An order read is mapped as its creation (Track "Order Completed", one per order id).
    mtype = "OrderCreated" if type_id == "order" else f"{type_id.capitalize()}Read"
    return CtEvent(
        kind="snapshot",
        type=mtype,
        project_key=project_key,
        resource_type=type_id,
        resource_id=rid,
        resource_version=version,
        message_id=None,
        created_at=modified if isinstance(modified, str) else None,
        dedupe_key=f"{prefix}:{project_key}:{rid}:{key}",
        payload={type_id: resource},
        envelope=via,
    )


def _digest(data: Any) -> str:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def orders_mapped(planner: Planner) -> bool:
    """Whether the mapping stage turns an order read into Segment calls (Order Completed).

    Asked of the planner itself, with a small order: a mapping without orders
    answers ``ignored``, and a backfill would queue nothing.
    """
    probe = {
        "id": "ctsync-probe",
        "version": 1,
        "customerEmail": "probe@example.com",
        "totalPrice": {"type": "centPrecision", "currencyCode": "EUR", "centAmount": 100},
        "lineItems": [],
        "createdAt": "2026-01-01T00:00:00.000Z",
    }
    return planner(read_event("ctsync-probe", probe, type_id="order"), None).status != "ignored"


async def run_backfill(
    store: Store,
    client: CommercetoolsClient,
    planner: Planner,
    options: BackfillOptions,
    *,
    horizon_s: float,
    report: Reporter | None = None,
) -> BackfillProgress:
    """Stream every matching resource by id cursor and record each as a snapshot."""
    if options.resource == "orders" and not orders_mapped(planner):
        msg = (
            "order mapping not available: this ctsync maps customers only, so "
            "`backfill orders` would queue nothing"
        )
        raise ConfigError(msg)
    project = client.config.project_key
    name = options.name(project)
    total = await client.count(options.resource, where=options.predicates())
    progress = BackfillProgress(name, total)
    cursor = None if options.dry_run else await _begin(store, options, project, progress)
    notify = report or (lambda _: None)
    notify(progress)
    try:
        async for page in _prefetched(_pages(client, options, cursor)):
            await _take(store, planner, options, page, progress, horizon_s=horizon_s)
            notify(progress)
    except BaseException as exc:
        progress.status = "interrupted" if isinstance(exc, asyncio.CancelledError) else "failed"
        if not isinstance(exc, KeyboardInterrupt | asyncio.CancelledError | CtsyncError):
            raise
        await _end(store, options, progress, error=str(exc) or type(exc).__name__)
        raise
    this_run = progress.processed - progress.done_before
    limited = options.limit is not None and this_run >= options.limit
    progress.status = "partial" if limited else "done"
    await _end(store, options, progress)
    notify(progress)
    return progress


async def _begin(
    store: Store, options: BackfillOptions, project: str, progress: BackfillProgress
) -> str | None:
    now = time.time()
    row = await store.awrite(
        lambda c: c.one(
            "backfill_begin",
            name=progress.name,
            resource=options.resource,
            project_key=project,
            filters=json.dumps(options.predicates()),
            total=progress.total,
            now=now,
            restart=int(options.restart),
        )
    )
    if row is None or row["cursor"] is None:
        return None
    progress.resumed_after = row["cursor"]
    progress.done_before = progress.processed = int(row["processed"])
    progress.queued = int(row["queued"])
    return str(row["cursor"])


async def _end(
    store: Store, options: BackfillOptions, progress: BackfillProgress, *, error: str | None = None
) -> None:
    if options.dry_run:
        return
    status, now = progress.status, time.time()
    with contextlib.suppress(CtsyncError):  # the cursor already says where to resume
        await store.awrite(
            lambda c: c.run("backfill_end", name=progress.name, status=status, error=error, now=now)
        )


async def _pages(
    client: CommercetoolsClient, options: BackfillOptions, cursor: str | None
) -> AsyncIterator[list[dict[str, Any]]]:
    """The pages to record, cut at ``--limit`` (resources in this run)."""
    left = options.limit
    size = min(options.page_size, left) if left is not None else options.page_size
    pages = client.pages(options.resource, where=options.predicates(), after=cursor, limit=size)
    async for page in pages:
        kept = page if left is None else page[:left]
        left = None if left is None else left - len(kept)
        yield kept
        if left is not None and left <= 0:
            return


async def _prefetched(
    pages: AsyncIterator[list[dict[str, Any]]],
) -> AsyncIterator[list[dict[str, Any]]]:
    """Fetch the next page while the caller stores this one (one page ahead, no more)."""
    queue: asyncio.Queue[list[dict[str, Any]] | BaseException | None] = asyncio.Queue(maxsize=1)

    async def produce() -> None:
        try:
            async for page in pages:
                await queue.put(page)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, raised there
            await queue.put(exc)
        else:
            await queue.put(None)

    task = asyncio.create_task(produce())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _take(
    store: Store,
    planner: Planner,
    options: BackfillOptions,
    page: list[dict[str, Any]],
    progress: BackfillProgress,
    *,
    horizon_s: float,
) -> None:
    """Record one page's snapshots and move the cursor, in one transaction."""
    project = progress.name.split(":", 2)[1]
    type_id = _TYPE_ID[options.resource]
    events = [read_event(project, r, type_id=type_id, via="backfill") for r in page]
    statuses: Counter[str]
    if options.dry_run:
        statuses, queued = Counter(str(planner(e, None).status) for e in events), 0
    else:
        now, name = time.time(), progress.name
        statuses, queued = await store.awrite(
            lambda c: _record_page(c, events, name, now=now, horizon_s=horizon_s, p=planner)
        )
    progress.statuses.update(statuses)
    progress.processed += len(events)
    progress.queued += queued


def _record_page(
    conn: Conn, events: list[CtEvent], name: str, *, now: float, horizon_s: float, p: Planner
) -> tuple[Counter[str], int]:
    results = record_page(conn, events, planner=p, now=now, horizon_s=horizon_s)
    statuses: Counter[str] = Counter(r.status for r in results)
    queued = sum(len(r.message_ids) for r in results)
    conn.run(
        "backfill_page",
        name=name,
        cursor=events[-1].resource_id,
        processed=len(events),
        queued=queued,
        now=now,
    )
    return statuses, queued


def list_backfills(conn: Conn, *, limit: int = 20) -> list[Row]:
    """The most recently active backfills, with their cursor and counts."""
    rows = conn.all("list_backfills", limit=limit)
    for row in rows:
        row["filters"] = json.loads(row["filters"])
    return rows
