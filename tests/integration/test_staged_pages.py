"""The pages a backfill stored are queued by the delivery side, each customer once.

``ctsync backfill`` (without ``--wait``) only reads commercetools and stores each
page; the cron drain, ``ctsync drain``, serve and worker queue them (``queue_staged``).
These tests read the commercetools emulator and queue what was read through those
paths: one page at a time or two queuers at once, a page left half-queued by a
worker that died, a page read twice, and stored text that is not a page.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ctsync.backfill import BackfillOptions, run_backfill
from ctsync.commercetools import ApiConfig, CommercetoolsClient, RetryOptions
from ctsync.config import Settings
from ctsync.ingress._model import CtEvent
from ctsync.mapping import IdentityState, Plan
from ctsync.service import Runtime
from ctsync.sinks import CaptureSink
from ctsync.staged import QueueConfig, QueueReport, queue_staged, staged_summary
from ctsync.store import Store, open_store
from ctsync.web import create_app
from tests.ctmock import CtMock
from tests.fakes.segment import FakeSegment
from tests.helpers import ROOT, ThreadServer, wait_for

FAST = RetryOptions(attempts=4, timeout_s=20, wait_initial_s=0.01, wait_max_s=0.05)
HORIZON = 3600.0


@pytest.fixture(scope="module")
def ctmock() -> Iterator[CtMock]:
    with CtMock.started() as mock:
        yield mock


def _settings(db_url: str, **more: str) -> Settings:
    return Settings(DATABASE_URL=db_url, **more)  # type: ignore[arg-type]


@pytest.fixture
def runtime(db_url: str) -> Iterator[Runtime]:
    rt = Runtime.open(_settings(db_url), sink=CaptureSink())
    yield rt
    asyncio.run(rt.aclose())


def _read(rt: Runtime, mock: CtMock, **options: Any) -> dict[str, Any]:
    """Run a backfill that only reads and stores (the delivery side queues)."""

    async def go() -> dict[str, Any]:
        config = ApiConfig.from_settings(Settings(**mock.env()))  # type: ignore[arg-type]
        async with CommercetoolsClient(config, retry=FAST) as client:
            progress = await run_backfill(
                rt.store, client, rt.planner, BackfillOptions(**options), horizon_s=HORIZON
            )
            return progress.to_json()

    return asyncio.run(go())


def _queue(store: Store, rt: Runtime, config: QueueConfig | None = None) -> QueueReport:
    return asyncio.run(queue_staged(store, rt.planner, horizon_s=HORIZON, config=config))


def _outbox(store: Store) -> Counter[str]:
    rows = store.read(lambda c: c.all("list_messages", status=None, limit=100_000))
    return Counter(r["message_id"] for r in rows)


def _users(store: Store) -> set[str]:
    rows = store.read(lambda c: c.all("list_messages", status=None, limit=100_000))
    return {json.loads(r["body"])["userId"] for r in rows}


def _customers(total: int) -> set[str]:
    return {f"customer{i}@example.com" for i in range(total)}


def _done(store: Store) -> list[int]:
    """How far each stored page is queued (``done`` of its ``size``)."""
    sql = "SELECT done FROM backfill_pages ORDER BY id"
    rows = store.read(lambda c: c._conn.execute(sql).fetchall())  # type: ignore[attr-defined]
    return [int(r["done"] if isinstance(r, dict) else r[0]) for r in rows]


def _backfill_row(store: Store) -> dict[str, Any]:
    [row] = store.read(lambda c: c.all("list_backfills", limit=10))
    return row


def test_the_cron_drain_queues_what_a_backfill_read_and_segment_gets_each_customer_once(
    ctmock: CtMock, db_url: str
) -> None:
    total = 1200
    ctmock.new_project()
    ctmock.seed(total)
    with FakeSegment() as fake:
        settings = _settings(
            db_url,
            CRON_SECRET="cron-secret",
            SEGMENT_WRITE_KEY=fake.write_key,
            SEGMENT_ENDPOINT=fake.url,
        )
        rt = Runtime.open(settings, sink=CaptureSink())
        try:
            read = _read(rt, ctmock)
        finally:
            asyncio.run(rt.aclose())
        assert (read["processed"], read["staged"], read["queued"]) == (total, total, 0)

        snapshots = Counter[str]()
        # No background loop: only the cron route queues and delivers here.
        with ThreadServer(create_app(settings, background_drainer=False)) as server:
            url = f"{server.url}/api/cron/drain"
            assert httpx.get(url, timeout=30).status_code == 401

            def drained() -> bool:
                r = httpx.get(url, headers={"Authorization": "Bearer cron-secret"}, timeout=60)
                assert r.status_code == 200, r.text
                snapshots.update(r.json().get("backfillPages", {}).get("events", {}))
                return len(fake.messages) >= total and "backfillPages" not in r.json()

            wait_for(drained, 120, "the cron drain to queue and deliver every customer")
        ids = fake.message_ids()
        users = {m["userId"] for m in fake.messages}
    assert snapshots == {"accepted": total}  # the answers' backfillPages, summed
    assert len(ids) == total
    assert len(set(ids)) == total
    assert users == _customers(total)


def _stage_junk(store: Store, backfill: str, project: str) -> None:
    """Stored pages that are not pages: text that is no JSON, an object without results,
    and results fewer than the page's size (it could never be finished)."""

    def stage(c: Any) -> None:
        bodies = ("not json", json.dumps({"limit": 50, "total": 3}), json.dumps({"results": []}))
        for body in bodies:
            c.run(
                "stage_page",
                backfill=backfill,
                project_key=project,
                resource="customers",
                body=body,
                size=3,
                now=time.time(),
            )

    store.write(stage)


def test_a_stored_text_that_is_not_a_page_is_kept_as_failed_and_the_pages_after_it_are_queued(
    ctmock: CtMock, db_url: str
) -> None:
    total = 120
    ctmock.new_project()
    ctmock.seed(total)
    settings = _settings(db_url, CTSYNC_ADMIN_TOKEN="adm")
    rt = Runtime.open(settings, sink=CaptureSink())
    try:
        name = BackfillOptions().name(ctmock.project_key)
        _stage_junk(rt.store, name, ctmock.project_key)  # before the real pages
        read = _read(rt, ctmock, page_size=50, streams=1)  # 3 pages of 50, 50, 20
        assert read["processed"] == total

        no_backoff = QueueConfig(retry_base_s=0.0, retry_cap_s=0.0)
        first = _queue(rt.store, rt, no_backoff)
        assert (first.pages, first.failed_pages, first.snapshots) == (6, 3, total)
        # Due again at once were it only retried: a failed page is never claimed again.
        again = _queue(rt.store, rt, no_backoff)
        assert (again.pages, again.snapshots) == (0, 0)
        assert _staged(rt.store) == {"pages": 3, "failed": 3}
        outbox = _outbox(rt.store)
        assert len(outbox) == total
        assert set(outbox.values()) == {1}
        assert _users(rt.store) == _customers(total)
    finally:
        asyncio.run(rt.aclose())

    with ThreadServer(create_app(settings, background_drainer=False)) as server:
        r = httpx.get(f"{server.url}/api/admin/backfills", headers={"Authorization": "Bearer adm"})
    assert r.status_code == 200
    [found] = r.json()["backfills"]
    assert (found["failed_pages"], found["staged_pages"], found["queued"]) == (3, 3, total)
    assert found["staged"] == 0  # nothing waits: the failed pages will never be queued
    assert "the stored page cannot be read" in found["staged_error"]


def _staged(store: Store) -> dict[str, int]:
    row = store.read(staged_summary)
    return {"pages": int(row["pages"]), "failed": int(row["failed"])}


def test_backfill_wait_returns_when_what_is_left_of_it_is_failed_pages(
    ctmock: CtMock, runtime: Runtime
) -> None:
    total = 80
    ctmock.new_project()
    ctmock.seed(total)
    _stage_junk(runtime.store, BackfillOptions().name(ctmock.project_key), ctmock.project_key)

    async def waited() -> dict[str, Any]:
        config = ApiConfig.from_settings(Settings(**ctmock.env()))  # type: ignore[arg-type]
        async with CommercetoolsClient(config, retry=FAST) as client:
            run = run_backfill(
                runtime.store,
                client,
                runtime.planner,
                BackfillOptions(wait=True),
                horizon_s=HORIZON,
            )
            # It waited for pages that can never be queued, and never returned.
            progress = await asyncio.wait_for(run, 60)
            return progress.to_json()

    result = asyncio.run(waited())
    assert result["status"] == "done"
    assert (result["processed"], result["queued"], result["staged"]) == (total, total, 0)
    assert result["failedPages"] == 3


def test_two_queuers_at_once_queue_each_customer_once(ctmock: CtMock, db_url: str) -> None:
    total = 900
    ctmock.new_project()
    ctmock.seed(total)
    rt = Runtime.open(_settings(db_url), sink=CaptureSink())
    other = open_store(db_url)
    try:
        read = _read(rt, ctmock, page_size=100)
        assert read["staged"] == total
        # Small chunks and a lease shorter than a page takes: pages change hands mid-way.
        config = QueueConfig(chunk=7, lease_s=0.05)

        async def both() -> list[QueueReport]:
            return list(
                await asyncio.gather(
                    queue_staged(rt.store, rt.planner, horizon_s=HORIZON, config=config),
                    queue_staged(other, rt.planner, horizon_s=HORIZON, config=config),
                )
            )

        reports = asyncio.run(both())
        assert sum(r.snapshots for r in reports) == total  # no chunk recorded twice
        assert sum(r.statuses["accepted"] for r in reports) == total
        outbox = _outbox(rt.store)
        assert len(outbox) == total
        assert set(outbox.values()) == {1}
        assert _users(rt.store) == _customers(total)
        assert _staged(rt.store) == {"pages": 0, "failed": 0}
        assert _backfill_row(rt.store)["queued"] == total
    finally:
        other.close()
        asyncio.run(rt.aclose())


def test_a_page_left_half_queued_by_a_dead_worker_is_resumed_after_its_lease(
    ctmock: CtMock, db_url: str
) -> None:
    total, chunk = 300, 50
    ctmock.new_project()
    ctmock.seed(total)
    rt = Runtime.open(_settings(db_url), sink=CaptureSink())
    try:
        read = _read(rt, ctmock, streams=1)  # one page of 300
        assert read["staged"] == total
        config = QueueConfig(chunk=chunk, lease_s=2.0)
        _die_in_the_second_chunk(db_url, rt, config)

        assert _done(rt.store) == [2 * chunk]  # the chunks it committed stay
        # The dead worker's lease still holds the page.
        assert _queue(rt.store, rt, config).pages == 0

        resumed: list[QueueReport] = []

        def lease_ran_out() -> bool:
            resumed.append(_queue(rt.store, rt, config))
            return resumed[-1].pages > 0

        wait_for(lease_ran_out, 30, "the next worker to take the page over")
        # It went on at the chunk where the dead worker stopped: nothing was recorded twice.
        assert resumed[-1].statuses == {"accepted": total - 2 * chunk}
        outbox = _outbox(rt.store)
        assert len(outbox) == total
        assert set(outbox.values()) == {1}
        assert _users(rt.store) == _customers(total)
        assert _staged(rt.store) == {"pages": 0, "failed": 0}
        assert _backfill_row(rt.store)["queued"] == total
    finally:
        asyncio.run(rt.aclose())


def _die_in_the_second_chunk(db_url: str, rt: Runtime, config: QueueConfig) -> None:
    """A worker of its own store, stopped dead while it records its second chunk.

    Its task is cancelled from inside the second chunk's transaction (which still
    commits, as a process killed after the commit leaves it): it never learns the
    outcome, never moves on, and leaves the page leased.
    """
    store = open_store(db_url)
    mapped = 0

    async def work() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()

        def planner(event: CtEvent, state: IdentityState | None) -> Plan:
            nonlocal mapped
            mapped += 1
            if mapped == config.chunk + 1:
                loop.call_soon_threadsafe(task.cancel)
            return rt.planner(event, state)

        await queue_staged(store, planner, horizon_s=HORIZON, config=config)

    try:
        with pytest.raises(asyncio.CancelledError):
            asyncio.run(work())
    finally:
        store.close()  # waits for the transaction it was in to end


def test_a_backfill_read_twice_queues_each_customer_once(ctmock: CtMock, runtime: Runtime) -> None:
    total = 700
    ctmock.new_project()
    ctmock.seed(total)
    first = _read(runtime, ctmock)
    again = _read(runtime, ctmock, restart=True)  # while the first run's pages still wait
    assert (first["processed"], again["processed"]) == (total, total)
    assert again["staged"] == 2 * total

    report = _queue(runtime.store, runtime)
    assert report.statuses == {"accepted": total, "duplicate": total}
    outbox = _outbox(runtime.store)
    assert len(outbox) == total
    assert set(outbox.values()) == {1}
    assert _staged(runtime.store) == {"pages": 0, "failed": 0}
    assert _backfill_row(runtime.store)["queued"] == total


def test_backfill_wait_as_a_command_leaves_nothing_stored_and_the_outbox_full(
    ctmock: CtMock, db_url: str
) -> None:
    total = 1300
    ctmock.new_project()
    ctmock.seed(total)
    proc = subprocess.run(
        [sys.executable, "-m", "ctsync", "backfill", "customers", "--wait"],
        env={**os.environ, **ctmock.env(), "DATABASE_URL": db_url},
        capture_output=True,
        cwd=ROOT,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["status"] == "done"
    assert (summary["processed"], summary["queued"], summary["staged"]) == (total, total, 0)
    store = open_store(db_url)
    try:
        assert _staged(store) == {"pages": 0, "failed": 0}
        outbox = _outbox(store)
        assert len(outbox) == total
        assert set(outbox.values()) == {1}
        assert _users(store) == _customers(total)
    finally:
        store.close()


def test_backfill_wait_polls_for_a_page_another_worker_holds_without_spinning(
    ctmock: CtMock, runtime: Runtime
) -> None:
    total, held_s = 20, 3.0
    ctmock.new_project()
    ctmock.seed(total)
    read = _read(runtime, ctmock)
    assert read["staged"] == total
    now = time.time()  # another worker holds the page a while
    held = runtime.store.write(
        lambda c: c.one("claim_staged_page", now=now, lease_until=now + held_s)
    )
    assert held is not None

    started, cpu = time.monotonic(), time.process_time()
    waited = _read(runtime, ctmock, restart=True, wait=True)
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    assert (waited["queued"], waited["staged"]) == (total, 0)
    assert elapsed >= held_s - 0.5  # it waited for the lease to run out
    # a pass a second while it waits, not a loop as fast as the store answers
    assert cpu < held_s / 3, f"{cpu:.2f} s of CPU in {elapsed:.2f} s of waiting"


def test_a_page_the_mapping_fails_on_keeps_its_reason_and_is_queued_once_the_mapping_works(
    ctmock: CtMock, runtime: Runtime
) -> None:
    total = 300
    ctmock.new_project()
    ctmock.seed(total)

    def defective(event: CtEvent, state: IdentityState | None) -> Plan:
        """Today's mapping, with a defect that one customer's data sets off."""
        if event.payload["customer"]["email"] == "customer150@example.com":
            msg = "a mapping defect"
            raise RuntimeError(msg)
        return runtime.planner(event, state)

    async def go() -> dict[str, Any]:
        config = ApiConfig.from_settings(Settings(**ctmock.env()))  # type: ignore[arg-type]
        async with CommercetoolsClient(config, retry=FAST) as client:
            options = BackfillOptions(wait=True)
            progress = await run_backfill(
                runtime.store, client, defective, options, horizon_s=HORIZON
            )
            return progress.to_json()

    # --wait returns: retrying under the same mapping would fail again
    waited = asyncio.run(go())
    assert waited["status"] == "done"
    assert 0 < waited["retrying"] == waited["staged"]
    assert waited["queued"] + waited["retrying"] == total
    row = _backfill_row(runtime.store)
    assert "a mapping defect" in row["staged_error"]
    assert row["failed_pages"] == 0  # kept to be tried again, not given up

    # the delivery side, whose mapping works, queues the page after its backoff
    queued: Counter[str] = Counter()

    def all_queued() -> bool:
        queued.update(_queue(runtime.store, runtime).statuses)
        return len(_outbox(runtime.store)) == total

    wait_for(all_queued, 60, "the page queued again once the mapping works")
    assert _users(runtime.store) == _customers(total)
    assert _staged(runtime.store) == {"pages": 0, "failed": 0}
