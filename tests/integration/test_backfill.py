"""`ctsync backfill` against the commercetools emulator: every customer reaches Segment once."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ctsync.backfill import BackfillOptions, list_backfills, run_backfill
from ctsync.commercetools import ApiConfig, CommercetoolsClient, RetryOptions
from ctsync.config import Settings
from ctsync.ingress import parse_ct_payload
from ctsync.service import Runtime
from ctsync.sinks import CaptureSink
from ctsync.store import open_store
from ctsync.store._ops import list_messages
from tests.ctmock import CtMock
from tests.fakes.segment import FakeSegment
from tests.helpers import ROOT, ThreadServer, wait_for

FAST = RetryOptions(attempts=4, timeout_s=20, wait_initial_s=0.01, wait_max_s=0.05)


@pytest.fixture(scope="module")
def ctmock() -> Iterator[CtMock]:
    with CtMock.started() as mock:
        yield mock


def _ctsync(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ctsync", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )


def _finish(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr.decode()[-3000:]
    result: dict[str, Any] = json.loads(stdout)
    return result


def _processed(db_url: str) -> int:
    store = open_store(db_url)
    try:
        store.migrate()
        rows = store.read(list_backfills)
    finally:
        store.close()
    return int(rows[0]["processed"]) if rows else 0


def test_25000_customers_reach_segment_once_across_a_killed_and_resumed_run(
    ctmock: CtMock, tmp_path: Path
) -> None:
    total = 25_000
    ctmock.new_project()
    ctmock.seed(total)
    db_url = f"sqlite:///{tmp_path}/ctsync.db"
    env = {**ctmock.env(), "DATABASE_URL": db_url}
    # The API stalls (503s with Retry-After) after a random number of pages, so the
    # kill lands mid-run however fast the backfill goes; stored pages before it vary.
    pages = random.randint(3, (total - 10_000) // 500)
    ctmock.fail(503, times=10_000, retry_after=1, after=pages)
    kill_after = (pages - 2) * 500  # a call or two may be other than a page read

    first = _ctsync(env, "backfill", "customers")
    wait_for(lambda: _processed(db_url) >= kill_after, 120, f"{kill_after} customers stored")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    stored_at_kill = _processed(db_url)
    assert stored_at_kill < total, f"killed after {kill_after}: the first run had finished"
    ctmock.fail(503, times=0, clear=True)  # the API answers again

    resumed = _finish(_ctsync(env, "backfill", "customers"))
    assert resumed["status"] == "done"
    assert resumed["resumedAfter"] is not None
    assert resumed["processed"] == total
    # Both runs' pages wait for the delivery side: all of them, none stored twice.
    assert (resumed["staged"], resumed["queued"]) == (total, 0)

    with FakeSegment() as fake:
        delivery = {"SEGMENT_WRITE_KEY": fake.write_key, "SEGMENT_ENDPOINT": fake.url}
        drained = _ctsync({**env, **delivery}, "drain")
        report = json.loads(drained.communicate(timeout=240)[0])
        assert drained.returncode == 0
        assert report["backfillPages"]["snapshots"] == total
        ids = fake.message_ids()
        assert len(ids) == total
        assert len(set(ids)) == total
        users = {m["userId"] for m in fake.messages}
    assert users == {f"customer{i}@example.com" for i in range(total)}


def _client(mock: CtMock) -> CommercetoolsClient:
    config = ApiConfig.from_settings(Settings(**mock.env()))  # type: ignore[arg-type]
    return CommercetoolsClient(config, retry=FAST)


def _backfill(rt: Runtime, mock: CtMock, **options: Any) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with _client(mock) as client:
            # queued here (--wait), so the outbox can be read as soon as it returns
            options.setdefault("wait", True)
            progress = await run_backfill(
                rt.store, client, rt.planner, BackfillOptions(**options), horizon_s=3600
            )
            return progress.to_json()

    return asyncio.run(go())


@pytest.fixture
def runtime(db_url: str) -> Iterator[Runtime]:
    rt = Runtime.open(Settings(DATABASE_URL=db_url), sink=CaptureSink())  # type: ignore[call-arg]
    yield rt
    asyncio.run(rt.aclose())


def _outbox(rt: Runtime) -> Counter[str]:
    rows = rt.store.read(lambda c: c.all("list_messages", status=None, limit=100_000))
    return Counter(r["message_id"] for r in rows)


def test_a_rerun_and_a_live_event_of_the_same_version_add_no_message(
    ctmock: CtMock, runtime: Runtime
) -> None:
    ctmock.new_project()
    ctmock.seed(1200)
    first = _backfill(runtime, ctmock)
    assert (first["processed"], first["queued"]) == (1200, 1200)

    again = _backfill(runtime, ctmock, restart=True)
    assert again["processed"] == 1200
    assert again["queued"] == 0
    assert again["events"] == {"duplicate": 1200}

    created = ctmock.create_customer(email="live@example.com", firstName="Live")
    _backfill(runtime, ctmock)  # a finished backfill starts over: only the new customer is new
    message = {
        "notificationType": "Message",
        "projectKey": ctmock.project_key,
        "id": "msg-live-1",
        "type": "CustomerCreated",
        "resource": {"typeId": "customer", "id": created["id"]},
        "resourceVersion": created["version"],
        "sequenceNumber": 1,
        "createdAt": created["createdAt"],
        "customer": created,
    }
    live = asyncio.run(runtime.record(parse_ct_payload(message)))
    assert live.status == "duplicate"  # the backfill already queued this version's Identify
    outbox = _outbox(runtime)
    assert len(outbox) == 1201
    assert set(outbox.values()) == {1}


def test_since_where_and_dry_run(ctmock: CtMock, runtime: Runtime) -> None:
    ctmock.new_project()
    ctmock.seed(40, last_modified_at="2020-06-01T00:00:00.000Z")
    ctmock.seed(25, start=40, last_modified_at="2026-06-01T00:00:00.000Z")
    dry = _backfill(runtime, ctmock, dry_run=True)
    assert (dry["processed"], dry["queued"]) == (65, 0)
    assert _outbox(runtime) == Counter()

    recent = _backfill(runtime, ctmock, since=datetime(2026, 1, 1, tzinfo=UTC))
    assert (recent["total"], recent["processed"], recent["queued"]) == (25, 25, 25)
    users = {json.loads(r["body"])["userId"] for r in _rows(runtime)}
    assert users == {f"customer{i}@example.com" for i in range(40, 65)}

    one = _backfill(runtime, ctmock, where=('email = "customer3@example.com"',))
    assert (one["processed"], one["queued"]) == (1, 1)


def _rows(rt: Runtime) -> list[dict[str, Any]]:
    return rt.store.read(lambda c: c.all("list_messages", status=None, limit=100_000))


def test_backfill_progress_is_in_the_admin_api_and_serve_queues_what_was_read(
    ctmock: CtMock, db_url: str
) -> None:
    import httpx

    from ctsync.web import create_app

    ctmock.new_project()
    ctmock.seed(30)
    settings = Settings(DATABASE_URL=db_url, CTSYNC_ADMIN_TOKEN="adm")  # type: ignore[call-arg]
    rt = Runtime.open(settings, sink=CaptureSink())
    try:
        read = _backfill(rt, ctmock, limit=10, wait=False)
        assert (read["processed"], read["staged"], read["queued"]) == (10, 10, 0)
        assert _outbox(rt) == Counter()  # read and stored, not queued yet
    finally:
        asyncio.run(rt.aclose())
    auth = {"Authorization": "Bearer adm"}
    with ThreadServer(create_app(settings)) as server:
        url = f"{server.url}/api/admin/backfills"
        assert httpx.get(url).status_code == 401

        def row() -> dict[str, Any]:
            r = httpx.get(url, headers=auth)
            assert r.status_code == 200
            [found] = r.json()["backfills"]
            return dict(found)

        # serve's background loop queues the stored pages
        wait_for(lambda: row()["staged"] == 0, 30, "the stored page queued by serve")
        found = row()
    assert (found["resource"], found["status"], found["processed"], found["total"]) == (
        "customers",
        "partial",
        10,
        30,
    )
    assert (found["queued"], found["staged_pages"], found["failed_pages"]) == (10, 0, 0)
    assert found["cursor"]


def test_an_orders_backfill_queues_order_completed_with_exact_money(
    ctmock: CtMock, runtime: Runtime
) -> None:
    ctmock.new_project()
    # the emulator imports line items only of products it holds: a total is enough here
    draft = {
        "orderNumber": "B-1",
        "customerEmail": "Buyer@Example.com",
        "totalPrice": {"currencyCode": "EUR", "centAmount": 3998},
    }
    ctmock.api("POST", "/orders/import", json=draft).raise_for_status()
    progress = _backfill(runtime, ctmock, resource="orders")
    assert progress["processed"] == 1
    rows = runtime.store.read(lambda c: list_messages(c, status=None, limit=10))
    [body] = [r["body"] for r in rows]  # list_messages decodes the bodies
    assert body["event"] == "Order Completed"
    assert body["userId"] == "buyer@example.com"
    assert body["properties"]["total"] == 39.98
    assert body["properties"]["order_number"] == "B-1"


def test_ctrl_c_leaves_an_interrupted_backfill_that_resumes(ctmock: CtMock, tmp_path: Path) -> None:
    total = 3000
    ctmock.new_project()
    ctmock.seed(total)
    db_url = f"sqlite:///{tmp_path}/ctsync.db"
    env = {**ctmock.env(), "DATABASE_URL": db_url}

    # Three calls go through (the count and two pages, or three of the four id
    # ranges' first pages); every call after them waits 30 s (Retry-After): the run
    # is still going when Ctrl-C comes, however fast or slow this machine is.
    ctmock.fail(503, times=1000, retry_after=30, after=3)
    first = _ctsync(env, "backfill", "customers")
    wait_for(lambda: _processed(db_url) >= 1000, 60, "two pages stored")
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=60)
    assert first.returncode != 0
    store = open_store(db_url)
    try:
        [row] = store.read(list_backfills)
    finally:
        store.close()
    assert row["status"] == "interrupted"
    assert row["processed"] in {1000, 1500}

    ctmock.fail(200, times=0, clear=True)
    resumed = _finish(_ctsync(env, "backfill", "customers", "--wait"))
    assert resumed["status"] == "done"
    assert resumed["resumedAfter"] == row["cursor"]
    assert (resumed["processed"], resumed["queued"], resumed["staged"]) == (total, total, 0)
    assert resumed["events"] == {"accepted": total}  # no page stored twice


def test_a_bad_streams_count_is_a_clear_error_before_anything_is_read(
    ctmock: CtMock, tmp_path: Path
) -> None:
    ctmock.new_project()
    env = {**ctmock.env(), "DATABASE_URL": f"sqlite:///{tmp_path}/ctsync.db"}
    proc = _ctsync(env, "backfill", "customers", "--streams", "3")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "--streams takes one of 1, 2, 4, 8, 16, not 3" in stderr.decode()
    assert "Traceback" not in stderr.decode()
