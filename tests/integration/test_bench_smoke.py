"""The benchmark harness (bench/) at tiny sizes: it runs, and it measures what it claims.

No wall-clock numbers are asserted; only that every contender delivers every
message exactly once, that the load generator's deliveries are all distinct,
and that the report renders a verdict for each target. The wrk parts are
skipped outside CI when wrk is not installed (./dev test installs it).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest
from bench import _payloads
from bench._accept import AcceptResults, Cell, run_accept
from bench._deliver import run_delivery
from bench._imports import measure
from bench._procs import HttpServer, free_port
from bench._report import Report, render, targets
from bench._wrk import WrkResult
from bench.apps import ceiling_app, seed_app

from ctsync.ingress import parse_ct_payload
from tests.fakes.segment import FakeSegment
from tests.helpers import ThreadServer

KEY = "bench-smoke-key"
# ./dev test installs Debian's wrk; under CI=true its absence fails instead of skipping.
needs_wrk = pytest.mark.skipif(
    shutil.which("wrk") is None and os.environ.get("CI", "").lower() != "true",
    reason="wrk is not installed",
)


def test_deliveries_are_realistic_and_distinct() -> None:
    found = list(_payloads.deliveries("0a1b2c3d", 3))
    events = [parse_ct_payload(d) for d in found]
    assert len({e.dedupe_key for e in events}) == 3
    assert len({e.resource_id for e in events}) == 3
    assert {e.type for e in events} == {"CustomerCreated"}
    assert all("@K@" not in json.dumps(d) for d in found)


def test_ceiling_app_validates() -> None:
    with ThreadServer(ceiling_app()) as server:
        url = f"{server.url}/api/webhook"
        body = _payloads.delivery_body("0a1b2c3d", 1)
        ok = httpx.post(url, content=body, headers={"content-type": "application/json"})
        bad = httpx.post(url, json={"notificationType": "Message"})
    assert ok.status_code == 200
    assert bad.status_code == 422


def test_seed_app_identifies_and_flushes_per_request() -> None:
    with FakeSegment(KEY) as fake, ThreadServer(seed_app(fake.url, KEY)) as server:
        response = httpx.post(
            f"{server.url}/api/webhook",
            content=_payloads.delivery_body("0a1b2c3d", 1),
            headers={"content-type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 200
        # flush() returned before the answer, so the fake already has the message
        assert [m["type"] for m in fake.messages] == ["identify"]


def test_every_delivery_contender_delivers_each_message_once(tmp_path: Path) -> None:
    with FakeSegment(KEY) as fake:
        results = run_delivery(
            fake.url,
            KEY,
            {"sqlite": f"sqlite:///{tmp_path}/smoke.db"},
            tmp_path,
            messages=150,
            rounds=1,
            log=lambda _line: None,
        )
    keys = [r.key for r in results.rows]
    assert keys == ["raw", "ctsync-sqlite", "analytics", "analytics-default"]
    for row in results.rows:
        assert (row.received, row.duplicates, row.dropped) == (150, 0, 0), row


def test_import_cost_is_measured_in_fresh_interpreters() -> None:
    results = measure(repeat=1)
    assert results[0].label == "import fastapi, pydantic, httpx"
    assert all(r.cpu_ms > 0 and r.median_ms > 0 and r.samples == 1 for r in results)


def test_report_gives_every_target_a_verdict() -> None:
    def cell(rps: float, p99: float) -> Cell:
        run = WrkResult(8, int(rps * 10), 10.0, 0, 0, p99 / 2, p99, p99 * 2)
        return Cell(runs=[run], cpu_s=[1.0])

    acc = AcceptResults(10.0, 1, (8,))
    acc.labels = {"ceiling": "ceiling", "sqlite": "ctsync sqlite", "seed": "seed"}
    acc.cells = {
        ("ceiling", 8): cell(1000, 5),
        ("sqlite", 8): cell(600, 10),
        ("seed", 8): cell(2, 900),
    }
    text = render(Report(started=0.0, accept=acc), "machine")
    verdicts = [t.ok for t in targets(Report(started=0.0, accept=acc))]
    assert verdicts == [True, True, True]
    assert "| ctsync sqlite | 8 |" in text
    assert "PASS" in text


def test_the_built_functions_import_gets_its_own_table_and_target() -> None:
    from bench._imports import ImportResult

    built = [
        ImportResult("import fastapi, pydantic, httpx", 900.0, 800.0, 780.0, 3),
        ImportResult("import api.index (the built function)", 1200.0, 1100.0, 1090.0, 3),
    ]
    report = Report(started=0.0, imports_vercel=built)
    [target] = targets(report)
    assert target.ok is False  # 1090 / 780 = 1.40x
    assert "built Vercel function" in target.what
    text = render(report, "machine")
    assert "| `import api.index (the built function)` | 1090 | 1.40x |" in text


@needs_wrk
def test_wrk_deliveries_are_all_accepted_never_duplicates(tmp_path: Path) -> None:
    """Every wrk request carries its own ids: ctsync stores each as a new event."""
    from bench._accept import Contender

    with FakeSegment(KEY) as fake:
        db_url = f"sqlite:///{tmp_path}/accept.db"
        env = {
            "DATABASE_URL": db_url,
            "SEGMENT_WRITE_KEY": KEY,
            "SEGMENT_ENDPOINT": fake.url,
            "CTSYNC_LOG_LEVEL": "warning",
            "CTSYNC_ALLOW_UNVERIFIED": "true",
        }

        def serve() -> HttpServer:
            port = free_port()
            return HttpServer(
                "smoke-serve", "ctsync", "serve", "--port", str(port), port=port, env=env
            )

        servers = [Contender("sqlite", "ctsync serve, SQLite", serve, db_url)]
        results = run_accept(
            shutil.which("wrk") or "wrk",
            fake.url,
            servers,
            tmp_path,
            connections=(2,),
            seconds=1.0,
            rounds=1,
            log=lambda _line: None,
        )
        stored = results.stored["sqlite"]
        assert set(stored) == {"accepted"}
        assert stored["accepted"] >= results.answered_2xx["sqlite"] > 0
        assert len(set(fake.message_ids())) == len(fake.message_ids()) == stored["accepted"]


def test_the_backfill_benchmark_reads_everything_and_its_wait_rows_queue_everything(
    tmp_path: Path,
) -> None:
    from bench._backfill import backfill_table, backfill_targets, run_backfill

    found = run_backfill(
        tmp_path,
        {"sqlite": f"sqlite:///{tmp_path}/read.db"},
        customers=1200,
        wait_stores={"sqlite --wait": f"sqlite:///{tmp_path}/wait.db"},
    )
    assert found.runs["sqlite"].queued == 0  # read and stored: the delivery side queues
    assert found.runs["sqlite --wait"].queued == 1200
    table = "\n".join(backfill_table(found))
    assert "| ctsync backfill, sqlite --wait |" in table
    # only the reading run is held to the ratio target; both rows are in the table
    assert [t[0].split(" ")[1] for t in backfill_targets(found)] == ["(sqlite)", "(sqlite)"]
