"""ctsync's benchmarks in one run: ``./dev bench`` (``uv run python -m bench``).

(a) webhook accept throughput and latency under wrk, ctsync on SQLite and on
PostgreSQL next to a validation-only FastAPI endpoint; (b) delivery throughput
to a fake Segment next to the raw ceiling and segment-analytics-python; (c) the
seed design (identify + flush per request) as the baseline; (d) import cost;
(e) `ctsync backfill` against raw paging of the commercetools emulator.
Prints a markdown table with PASS/MISS per target and writes it to
bench/results/latest.md (``--record`` also to bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench import _imports, _pg
from bench._accept import Before, contenders, run_accept
from bench._backfill import run_backfill
from bench._deliver import run_delivery
from bench._procs import RESULTS, fake_segment
from bench._report import Report, machine, render
from bench._wrk import ensure_wrk

WRITE_KEY = "bench-write-key"
RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--seconds", type=float, default=10.0, help="wrk seconds per server and load")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds those are split in")
    p.add_argument("--conns", default="8,32", help="wrk connections, comma-separated")
    p.add_argument("--messages", type=int, default=20_000, help="messages per delivery run")
    p.add_argument("--delivery-rounds", type=int, default=2, help="runs per delivery contender")
    p.add_argument("--import-repeat", type=int, default=9, help="samples per import")
    p.add_argument(
        "--import-source", action="store_true", help="also time imports without bytecode"
    )
    p.add_argument("--customers", type=int, default=100_000, help="customers to backfill")
    p.add_argument("--only", default="accept,delivery,imports,vercel,backfill", help="parts to run")
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    p.add_argument("--record", action="store_true", help="also write bench/RESULTS.md")
    p.add_argument(
        "--before",
        type=Path,
        metavar="SRC",
        help="the src/ folder of an earlier ctsync (git worktree add ...) to measure beside",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    parts = {p.strip() for p in args.only.split(",")}
    started = time.monotonic()
    report = Report(started=started)
    machine_line = machine()
    print(machine_line, flush=True)
    pg_problem = "--no-postgres" if args.no_postgres else _pg.unavailable()
    if pg_problem:
        report.notes.append(f"PostgreSQL rows skipped: {pg_problem}")
    wrk = ensure_wrk() if "accept" in parts else ""
    with (
        tempfile.TemporaryDirectory(prefix="ctsync-bench-") as tmp,
        fake_segment(WRITE_KEY) as fake,
    ):
        if "imports" in parts:
            with report.phase("imports"):
                _run_imports(report, args.import_repeat, source=args.import_source)
        if "vercel" in parts:
            with report.phase("vercel"):
                _run_vercel_imports(report, args.import_repeat, Path(tmp))
        if "accept" in parts:
            with report.phase("accept"):
                _run_accept(report, args, wrk, fake.url, Path(tmp), use_pg=pg_problem is None)
        if "delivery" in parts:
            with report.phase("delivery"):
                _run_delivery(report, args, fake.url, Path(tmp), use_pg=pg_problem is None)
        if "backfill" in parts:
            with report.phase("backfill"):
                _run_backfill(report, args, Path(tmp), use_pg=pg_problem is None)
    report.elapsed_s = time.monotonic() - started
    report.notes += _standing_notes()
    text = render(report, machine_line)
    print(text, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.md").write_text(text)
    if args.record:
        shutil.copyfile(RESULTS / "latest.md", RESULTS_MD)
    print(f"written to {RESULTS / 'latest.md'}" + (f" and {RESULTS_MD}" if args.record else ""))
    return 0


def _run_imports(report: Report, repeat: int, *, source: bool) -> None:
    print("import cost ...", flush=True)
    report.imports = _imports.measure(repeat)
    if source:
        report.imports_source = _imports.measure(max(1, repeat // 3), bytecode=False)
    report.import_extra = _imports.heaviest_extra()


def _run_vercel_imports(report: Report, repeat: int, tmp: Path) -> None:
    """Build the project with the Vercel CLI, then time its function's import."""
    from tests.vercel import Missing, build, python312

    print("vercel build, then the built function's import cost ...", flush=True)
    try:
        output = build(tmp / "vercel")
        python = python312()
    except (Missing, AssertionError) as exc:
        report.notes.append(f"Vercel function import not measured: {exc}")
        return
    func_dir = next((output / "functions").rglob("*.func"))
    report.imports_vercel = _imports.measure_built(func_dir, python, repeat)


def _run_accept(
    report: Report, args: argparse.Namespace, wrk: str, fake_url: str, tmp: Path, *, use_pg: bool
) -> None:
    print("accept (wrk) ...", flush=True)
    conns = tuple(int(c) for c in args.conns.split(","))
    with (
        _maybe_pg("accept", use=use_pg) as pg_url,
        _maybe_pg("accept_before", use=use_pg and args.before is not None) as before_pg,
    ):
        before = None
        if args.before is not None:
            before = Before(args.before.resolve(), _describe(args.before), before_pg)
        servers = contenders(fake_url, WRITE_KEY, tmp, pg_url, before=before)
        report.accept = run_accept(
            wrk, fake_url, servers, tmp, connections=conns, seconds=args.seconds, rounds=args.rounds
        )


def _run_delivery(
    report: Report, args: argparse.Namespace, fake_url: str, tmp: Path, *, use_pg: bool
) -> None:
    print("delivery ...", flush=True)
    with (
        _maybe_pg("delivery", use=use_pg) as pg_url,
        _maybe_pg("delivery_before", use=use_pg and args.before is not None) as before_pg,
    ):
        stores = {"sqlite": f"sqlite:///{tmp}/delivery.db"}
        if pg_url is not None:
            stores["postgres"] = pg_url
        if args.before is not None:
            stores["sqlite-before"] = f"sqlite:///{tmp}/delivery-before.db"
            if before_pg is not None:
                stores["postgres-before"] = before_pg
        report.delivery = run_delivery(
            fake_url,
            WRITE_KEY,
            stores,
            tmp,
            messages=args.messages,
            rounds=args.delivery_rounds,
            before_src=args.before.resolve() if args.before else None,
        )


def _run_backfill(report: Report, args: argparse.Namespace, tmp: Path, *, use_pg: bool) -> None:
    print(f"backfill ({args.customers:,} customers) ...", flush=True)
    before = args.before is not None
    with (
        _maybe_pg("backfill", use=use_pg) as pg_url,
        _maybe_pg("backfill_before", use=use_pg and before) as before_pg,
        _maybe_pg("backfill_wait", use=use_pg) as wait_pg,
    ):
        stores = {"sqlite": f"sqlite:///{tmp}/backfill.db"}
        if before:
            stores["sqlite-before"] = f"sqlite:///{tmp}/backfill-before.db"
        if pg_url is not None:
            stores["postgres"] = pg_url
        if before_pg is not None:
            stores["postgres-before"] = before_pg
        waiting = {"sqlite --wait": f"sqlite:///{tmp}/backfill-wait.db"}
        if wait_pg is not None:
            waiting["postgres --wait"] = wait_pg
        report.backfill = run_backfill(
            tmp,
            stores,
            customers=args.customers,
            before_src=args.before.resolve() if before else None,
            wait_stores=waiting,
        )


def _describe(src: Path) -> str:
    """The commit an earlier source tree is at (its folder name when not in git)."""
    done = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return f"commit {done.stdout.strip()}" if done.returncode == 0 else src.name


def _maybe_pg(label: str, *, use: bool) -> contextlib.AbstractContextManager[str | None]:
    """A fresh PostgreSQL database when ``use``, else None."""
    return _pg.fresh_database(label) if use else contextlib.nullcontext(None)


def _standing_notes() -> list[str]:
    return [
        "ctsync servers run as `python -m ctsync serve` with CTSYNC_LOG_LEVEL=warning, "
        "delivering to the fake Segment in the background while they accept (as in production).",
        "The seed design's handler is a plain `def`, so concurrent requests share one "
        "analytics-python upload (its best case); each still waits for the 0.5 s upload interval.",
        "The ctsync delivery rows time `Drainer.drain()` (what `ctsync drain` runs) in a fresh "
        "process, after opening the store; analytics-python rows time enqueue + `flush()`.",
        "On a shared 2-core machine all processes (wrk, servers, fake Segment) compete for the "
        "same cores, so compare ratios within one run rather than absolute numbers across runs.",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
