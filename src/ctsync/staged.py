"""Queue what a backfill read: its stored pages become snapshots, on the delivery side.

``ctsync backfill`` stores each page as the API answered it, with its cursor, in
one transaction, and goes on reading: it reads commercetools as fast as the API
pages, and a run killed at any point loses nothing it read. This stage, run by
every delivery loop (``serve``, ``worker``, the cron drain, ``ctsync drain``,
and ``ctsync backfill --wait``), turns the pages into snapshot events exactly as
``record_event`` would record each customer (``record_page``), under the mapping
of the process that queues them, a chunk of a page per transaction.

A page is leased while it is queued; a worker that dies lets it go, and the next
one resumes at the chunk where it stopped (``done``). A page whose text is not a
page can never be queued: it is kept as failed, with its reason. A page the
mapping fails on keeps its reason and is tried again with backoff (capped at
ten minutes), so a fixed mapping queues it. Both show with their backfill in the
admin API and on the dashboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ctsync._record_page import record_page
from ctsync.delivery import RetryPolicy
from ctsync.errors import CtsyncError, InputError
from ctsync.ingress._model import CtEvent
from ctsync.logs import get_logger
from ctsync.pipeline import Planner
from ctsync.store import Conn, Row, Store, storable_text

__all__ = ["QueueConfig", "QueueReport", "queue_staged", "run_queue_loop", "staged_summary"]

log = get_logger("ctsync.backfill")


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """How pages are claimed, cut and retried."""

    lease_s: float = 30.0
    chunk: int = 100  # snapshots per transaction: the store's writer is never held long
    retry_base_s: float = 5.0
    retry_cap_s: float = 600.0


@dataclass(slots=True)
class QueueReport:
    """What one pass queued."""

    pages: int = 0
    snapshots: int = 0
    queued: int = 0
    failed_pages: int = 0
    statuses: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        """The pass as JSON (``ctsync drain`` and the cron route show it)."""
        return {
            "pages": self.pages,
            "snapshots": self.snapshots,
            "queued": self.queued,
            "failedPages": self.failed_pages,
            "events": dict(self.statuses),
        }


class _LeaseLost(Exception):
    """Another worker took the page over (this one outlived its lease)."""


def staged_summary(conn: Conn) -> Row:
    """Pages waiting to be queued: how many, how many snapshots, how many failed."""
    row = conn.one("staged_summary")
    assert row is not None  # an aggregate always answers one row
    return row


async def queue_staged(
    store: Store,
    planner: Planner,
    *,
    horizon_s: float,
    budget_s: float | None = None,
    config: QueueConfig | None = None,
    on_queued: Callable[[], None] | None = None,
) -> QueueReport:
    """Queue the stored pages that are due, within ``budget_s`` when given."""
    cfg = config or QueueConfig()
    report = QueueReport()
    deadline = None if budget_s is None else time.monotonic() + budget_s
    while deadline is None or time.monotonic() < deadline:
        page = await _claim(store, cfg)
        if page is None:
            break
        report.pages += 1
        await _queue_page(store, planner, page, report, cfg, horizon_s=horizon_s)
        if on_queued is not None and report.queued:
            on_queued()
    return report


async def _claim(store: Store, cfg: QueueConfig) -> Row | None:
    now = time.time()
    return await store.awrite(
        lambda c: c.one("claim_staged_page", now=now, lease_until=now + cfg.lease_s),
        durable=False,  # a lost lease only lets another worker take the page sooner
    )


async def run_queue_loop(
    store: Store,
    planner: Planner,
    stop: asyncio.Event,
    *,
    horizon_s: float,
    idle_s: float = 1.0,
    config: QueueConfig | None = None,
    on_queued: Callable[[], None] | None = None,
) -> None:
    """Queue stored pages until ``stop`` is set (serve, worker); a failing pass is logged."""
    while not stop.is_set():
        try:
            report = await queue_staged(
                store, planner, horizon_s=horizon_s, config=config, on_queued=on_queued
            )
        except CtsyncError as exc:
            log.warning("staged_pass_failed", action="backfill", error=str(exc))
            report = QueueReport()
        if report.pages:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=idle_s)


def _events(page: Row) -> list[CtEvent]:
    """The page's snapshot events, as a backfill read of each resource."""
    from ctsync.backfill import TYPE_IDS, read_event  # noqa: PLC0415 - it imports this module

    body = json.loads(page["body"])
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        msg = "the stored page holds no 'results' list of resources"
        raise InputError(msg)
    if not 0 < page["size"] <= len(results):  # it could never be finished
        msg = f"the stored page holds {len(results)} resources, not the {page['size']} stored"
        raise InputError(msg)
    type_id = TYPE_IDS.get(page["resource"])
    if type_id is None:
        msg = f"a stored page of an unknown resource: {page['resource']!r}"
        raise InputError(msg)
    project = str(page["project_key"])
    return [
        read_event(project, r, type_id=type_id, via="backfill") for r in results[: page["size"]]
    ]


async def _queue_page(
    store: Store,
    planner: Planner,
    page: Row,
    report: QueueReport,
    cfg: QueueConfig,
    *,
    horizon_s: float,
) -> None:
    """Queue one leased page from where it stands, a chunk per transaction."""
    try:
        events = _events(page)
    except (ValueError, TypeError, InputError) as exc:  # JSONDecodeError is a ValueError
        await _page_failed(store, page, f"the stored page cannot be read: {exc}", cfg, final=True)
        report.failed_pages += 1
        return
    done = int(page["done"])
    while done < len(events):
        chunk = events[done : done + cfg.chunk]
        now = time.time()
        try:
            statuses, queued = await store.awrite(
                lambda c, chunk=chunk, start=done, now=now: _record_chunk(  # type: ignore[misc]
                    c,
                    page,
                    chunk,
                    start,
                    len(events),
                    planner,
                    now=now,
                    horizon_s=horizon_s,
                    cfg=cfg,
                )
            )
        except _LeaseLost:
            log.info("staged_page_taken_over", action="backfill", page=page["id"])
            return
        except CtsyncError:
            raise  # the store: the lease runs out and the page is queued again later
        except Exception as exc:  # noqa: BLE001 - a mapping defect: kept with its reason
            # No traceback: its frames hold the page's customers.
            log.error(
                "staged_page_failed",
                action="backfill",
                page=page["id"],
                error_type=type(exc).__name__,
            )
            reason = f"queueing the page failed: {type(exc).__name__}: {exc}"
            await _page_failed(store, page, reason, cfg, final=False)
            report.failed_pages += 1
            return
        done += len(chunk)
        report.snapshots += len(chunk)
        report.queued += queued
        report.statuses.update(statuses)


def _record_chunk(
    conn: Conn,
    page: Row,
    chunk: list[CtEvent],
    start: int,
    size: int,
    planner: Planner,
    *,
    now: float,
    horizon_s: float,
    cfg: QueueConfig,
) -> tuple[Counter[str], int]:
    """Record a chunk's snapshots and move the page on, in one transaction."""
    end = start + len(chunk)
    if end >= size:
        moved = conn.run("staged_page_done", id=page["id"], expected=start)
    else:
        moved = conn.run(
            "staged_chunk_done",
            id=page["id"],
            done=end,
            expected=start,
            lease_until=now + cfg.lease_s,
        )
    if moved != 1:
        raise _LeaseLost
    results = record_page(conn, chunk, planner=planner, now=now, horizon_s=horizon_s)
    queued = sum(len(r.message_ids) for r in results)
    conn.run("staged_page_queued", name=page["backfill"], queued=queued, now=now)
    return Counter(r.status for r in results), queued


async def _page_failed(
    store: Store, page: Row, reason: str, cfg: QueueConfig, *, final: bool
) -> None:
    """Keep the reason; try again after a backoff, or never (``final``: a failed page)."""
    policy = RetryPolicy(base_s=cfg.retry_base_s, cap_s=cfg.retry_cap_s)
    at = policy.next_at(failures=int(page["attempts"]), now=time.time())
    await store.awrite(
        lambda c: c.run(
            "staged_page_error",
            id=page["id"],
            error=storable_text(reason)[:1000],
            at=at,
            failed=int(final),
        )
    )
