"""Backfill: what commercetools already holds, sent as full snapshots through the live path.

The reader pages the API by id cursor and stores each page as the API answered
it, with the cursor, in one transaction (``stage_page``), fetching the next page
meanwhile: it reads as fast as the API pages, in constant memory, and a run
killed at any point resumes after its last stored page. The delivery side
(``ctsync.staged``: serve, worker, the cron drain, ``ctsync drain``, or this
command with ``--wait``) then records each resource as the snapshot event of its
version (``read_event``), as ``record_event`` would, so its messageId is the one
a CustomerCreated message, a change notification read or an earlier run of the
same version yields: a rerun or a live event adds no second message.
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

from ctsync.commercetools import CommercetoolsClient, Page
from ctsync.errors import ConfigError, CtsyncError, InputError
from ctsync.ingress._model import CtEvent
from ctsync.pipeline import Planner
from ctsync.staged import QueueReport, queue_staged
from ctsync.store import Conn, Row, Store

__all__ = [
    "STREAMS",
    "TYPE_IDS",
    "BackfillOptions",
    "BackfillProgress",
    "list_backfills",
    "read_event",
    "run_backfill",
]

BackfillResource = Literal["customers", "orders"]
Reporter = Callable[["BackfillProgress"], None]
TYPE_IDS = {"customers": "customer", "orders": "order"}  # a resource's typeId
STREAMS = (1, 2, 4, 8, 16)  # id ranges a backfill may read at once (hex digits divide evenly)


@dataclass(frozen=True, slots=True)
class BackfillOptions:
    """What to backfill: a resource, optionally filtered, all or ``limit`` of it."""

    resource: BackfillResource = "customers"
    since: datetime | None = None
    where: tuple[str, ...] = ()
    limit: int | None = None
    dry_run: bool = False
    restart: bool = False
    wait: bool = False  # queue the stored pages here, before returning
    streams: int = 4  # id ranges read at once (1, 2, 4, 8 or 16); one with --limit
    page_size: int = 500

    def __post_init__(self) -> None:
        if self.streams not in STREAMS:
            msg = f"--streams takes one of {', '.join(map(str, STREAMS))}, not {self.streams}"
            raise InputError(msg)

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
    processed: int = 0  # read and stored (or, in a dry run, mapped)
    queued: int = 0  # messages queued from what this backfill read
    staged: int = 0  # read, not yet queued (the delivery side queues them)
    failed_pages: int = 0  # stored pages that can never be queued (their reason: admin API)
    retrying: int = 0  # of ``staged``: in pages the mapping failed on, tried again later
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
            "staged": self.staged,
            "failedPages": self.failed_pages,
            "retrying": self.retrying,
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
    """Read every matching resource by id cursor and store its pages for queueing.

    With ``options.wait``, the pages are also queued here, while reading goes on,
    and the run returns once none is left.
    """
    if options.resource == "orders" and not orders_mapped(planner):
        msg = (
            "order mapping not available: this ctsync maps customers only, so "
            "`backfill orders` would queue nothing"
        )
        raise ConfigError(msg)
    project = client.config.project_key
    name = options.name(project)
    # Counting may take the API a while on a big project: it runs beside the reading.
    counting = asyncio.create_task(client.count(options.resource, where=options.predicates()))
    progress = BackfillProgress(name, None)
    try:
        cursor = (
            ScanCursor.fresh(_streams(options))
            if options.dry_run
            else await _begin(store, options, project, progress)
        )
    except BaseException:
        counting.cancel()
        raise
    counting.add_done_callback(lambda t: _counted(t, progress))
    notify = report or (lambda _: None)
    notify(progress)
    read_all = asyncio.Event()
    queuer = (
        asyncio.create_task(_queue_here(store, planner, progress, read_all, horizon_s=horizon_s))
        if options.wait and not options.dry_run
        else None
    )
    try:
        reading = [
            _pages(client, options, cursor, stream)
            for stream in range(cursor.streams)
            if not cursor.done[stream]
        ]
        async for stream, page in _merged(reading):
            await _take(store, planner, options, stream, page, progress)
            notify(progress)
        read_all.set()
        if queuer is not None:
            await queuer
    except BaseException as exc:
        counting.cancel()
        if queuer is not None:
            queuer.cancel()
            with contextlib.suppress(asyncio.CancelledError, CtsyncError):
                await queuer
        progress.status = "interrupted" if isinstance(exc, asyncio.CancelledError) else "failed"
        if not isinstance(exc, KeyboardInterrupt | asyncio.CancelledError | CtsyncError):
            raise
        await _end(store, options, progress, error=str(exc) or type(exc).__name__)
        raise
    with contextlib.suppress(CtsyncError):  # the count is for show: its failure is not the run's
        await counting
    this_run = progress.processed - progress.done_before
    limited = options.limit is not None and this_run >= options.limit
    progress.status = "partial" if limited else "done"
    await _end(store, options, progress)
    if not options.dry_run:
        await _count(store, progress)
    notify(progress)
    return progress


def _counted(task: asyncio.Task[int], progress: BackfillProgress) -> None:
    """The count arrived: shown from now on, stored with the next page."""
    if not task.cancelled() and task.exception() is None:
        progress.total = task.result()


async def _queue_here(
    store: Store,
    planner: Planner,
    progress: BackfillProgress,
    read_all: asyncio.Event,
    *,
    horizon_s: float,
) -> None:
    """``--wait``: queue stored pages while the reader reads, until none of this run is left.

    Pages of other backfills met on the way are queued too; pages of this one that
    another worker holds are waited for (polling, a pass a second). A failed page
    never will be queued: it is not waited for.
    """
    while True:
        done_reading = read_all.is_set()
        passed: QueueReport = await queue_staged(store, planner, horizon_s=horizon_s)
        progress.statuses.update(passed.statuses)
        await _count(store, progress)
        # A page the mapping failed on is retried later, by the delivery side: a
        # retry here, under the same mapping, would fail again.
        if done_reading and progress.staged == progress.retrying:
            break
        if passed.pages == 0 and done_reading:
            await asyncio.sleep(1.0)  # another worker holds a page of it: its lease runs out
        elif passed.pages == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(read_all.wait(), timeout=0.2)


async def _count(store: Store, progress: BackfillProgress) -> None:
    """What of this backfill is queued and what still waits, as the store has it now."""
    row = await asyncio.to_thread(
        store.read, lambda c: c.one("backfill_staged", name=progress.name)
    )
    if row is not None:
        progress.queued, progress.staged = int(row["queued"]), int(row["staged"])
        progress.failed_pages = int(row["failed"])
        progress.retrying = int(row["retrying"])


async def _begin(
    store: Store, options: BackfillOptions, project: str, progress: BackfillProgress
) -> ScanCursor:
    """The backfill's row, new or resumed; where each of its id ranges stands."""
    now = time.time()

    def begin(c: Conn) -> tuple[Row | None, ScanCursor, str | None]:
        row = c.one(
            "backfill_begin",
            name=progress.name,
            resource=options.resource,
            project_key=project,
            filters=json.dumps(options.predicates()),
            total=progress.total,
            now=now,
            restart=int(options.restart),
        )
        stored = row["cursor"] if row is not None else None
        cursor = ScanCursor.parse(stored) if stored else ScanCursor.fresh(_streams(options))
        if stored is None or not stored.startswith("{"):
            c.run("backfill_cursor", name=progress.name, cursor=cursor.to_json())
        return row, cursor, stored

    row, cursor, stored = await store.awrite(begin)
    if row is not None and cursor.started:
        progress.resumed_after = stored
        progress.done_before = progress.processed = int(row["processed"])
        progress.queued = int(row["queued"])
    return cursor


async def _end(
    store: Store, options: BackfillOptions, progress: BackfillProgress, *, error: str | None = None
) -> None:
    if options.dry_run:
        return
    status, now = progress.status, time.time()
    with contextlib.suppress(CtsyncError):  # the cursor already says where to resume
        await store.awrite(
            lambda c: c.run(
                "backfill_end",
                name=progress.name,
                status=status,
                error=error,
                now=now,
                total=progress.total,
            )
        )


def _streams(options: BackfillOptions) -> int:
    return 1 if options.limit is not None else options.streams


async def _pages(
    client: CommercetoolsClient, options: BackfillOptions, cursor: ScanCursor, stream: int
) -> AsyncIterator[tuple[int, Page | None]]:
    """One id range's pages to store, cut at ``--limit``; ``None`` once it is all read."""
    left = options.limit
    size = min(options.page_size, left) if left is not None else options.page_size
    ids_from, ids_below = cursor.bounds(stream)
    pages = client.raw_pages(
        options.resource,
        where=options.predicates(),
        after=cursor.after[stream],
        limit=size,
        ids_from=ids_from,
        ids_below=ids_below,
    )
    async for page in pages:
        kept = page if left is None else Page(page.results[:left], page.text)
        left = None if left is None else left - len(kept.results)
        yield stream, kept
        if left is not None and left <= 0:
            return
    yield stream, None


async def _merged(
    sources: list[AsyncIterator[tuple[int, Page | None]]],
) -> AsyncIterator[tuple[int, Page | None]]:
    """The pages of every id range as they arrive; each range fetches its next page
    while the caller stores one (constant memory: at most two pages a range in flight).
    """
    queue: asyncio.Queue[tuple[int, Page | None] | BaseException | None] = asyncio.Queue(
        maxsize=max(1, len(sources))
    )

    async def produce(source: AsyncIterator[tuple[int, Page | None]]) -> None:
        try:
            async for item in source:
                await queue.put(item)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, raised there
            await queue.put(exc)
        else:
            await queue.put(None)

    tasks = [asyncio.create_task(produce(source)) for source in sources]
    try:
        running = len(tasks)
        while running:
            item = await queue.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _take(
    store: Store,
    planner: Planner,
    options: BackfillOptions,
    stream: int,
    page: Page | None,
    progress: BackfillProgress,
) -> None:
    """Store one page and move its range's cursor, in one transaction (a dry run maps it).

    ``None``: the range is all read, which is stored too.
    """
    project = progress.name.split(":", 2)[1]
    now, name = time.time(), progress.name
    if page is None:
        if not options.dry_run:
            await store.awrite(
                lambda c: c.run("backfill_stream_done", name=name, stream=stream, now=now)
            )
        return
    if options.dry_run:
        type_id = TYPE_IDS[options.resource]
        events = [read_event(project, r, type_id=type_id, via="backfill") for r in page.results]
        progress.statuses.update(str(planner(e, None).status) for e in events)
    else:
        size, total = len(page.results), progress.total
        await store.awrite(
            lambda c: _stage(
                c, page, name, project, options.resource, stream, size=size, total=total, now=now
            )
        )
        progress.staged += size
    progress.processed += len(page.results)


def _stage(
    conn: Conn,
    page: Page,
    name: str,
    project: str,
    resource: str,
    stream: int,
    *,
    size: int,
    total: int | None,
    now: float,
) -> None:
    # The answer as sent, its first ``size`` resources to queue (``--limit`` may cut it).
    conn.run(
        "stage_page",
        backfill=name,
        project_key=project,
        resource=resource,
        body=page.text,
        size=size,
        now=now,
    )
    conn.run(
        "backfill_page",
        name=name,
        stream=stream,
        after=page.results[-1]["id"],
        processed=size,
        total=total,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class ScanCursor:
    """Where each id range of a backfill stands: the last id stored, and whether it is all read.

    Kept as JSON in the backfill's row; range ``i`` of ``n`` holds the ids from
    hex digit ``i * 16 / n`` (inclusive) to the next range's (exclusive), so the
    ranges of a UUID id space hold about as many resources each, and together
    every string there is.
    """

    after: tuple[str | None, ...]
    done: tuple[bool, ...]

    @property
    def streams(self) -> int:
        """How many id ranges are read at once."""
        return len(self.after)

    @property
    def started(self) -> bool:
        """Whether any range has stored a page (or been read to its end)."""
        return any(a is not None for a in self.after) or any(self.done)

    @classmethod
    def fresh(cls, streams: int) -> ScanCursor:
        """Nothing read yet, in ``streams`` ranges."""
        return cls((None,) * streams, (False,) * streams)

    @classmethod
    def parse(cls, text: str) -> ScanCursor:
        """The stored cursor; a plain id (a single scan of an earlier ctsync) is one range."""
        if not text.startswith("{"):
            return cls((text,), (False,))
        data = json.loads(text)
        after, done = data["after"], data["done"]
        if len(after) not in STREAMS or len(done) != len(after):
            msg = f"a stored backfill cursor of {len(after)} ranges"
            raise InputError(msg)
        return cls(tuple(after), tuple(bool(d) for d in done))

    def to_json(self) -> str:
        """As stored in the backfill's row."""
        return json.dumps(
            {"after": list(self.after), "done": list(self.done)}, separators=(",", ":")
        )

    def bounds(self, stream: int) -> tuple[str | None, str | None]:
        """Range ``stream``'s ids: from (inclusive) and below (exclusive); None: open."""
        cuts = [format(k * 16 // self.streams, "x") for k in range(1, self.streams)]
        low = cuts[stream - 1] if stream > 0 else None
        high = cuts[stream] if stream < self.streams - 1 else None
        return low, high


def list_backfills(conn: Conn, *, limit: int = 20) -> list[Row]:
    """The most recently active backfills, with their cursor and counts."""
    rows = conn.all("list_backfills", limit=limit)
    for row in rows:
        row["filters"] = json.loads(row["filters"])
    return rows
