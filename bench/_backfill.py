"""Backfill: `ctsync backfill customers` against raw id-cursor paging of the same emulator.

The commercetools emulator (tests/ctmock/server.mjs, on loopback) is seeded
with N customers. The raw pager (``python -m bench.rawpage``) reads them all
with ctsync's API client and does nothing else: the floor any backfill pays for
reading. Then ``python -m ctsync backfill customers`` reads and stores them all
into each fresh store in turn (SQLite, PostgreSQL, and the same with an earlier
ctsync given by ``--before``); its pages are queued by the delivery side. The
``--wait`` rows run ``backfill --wait`` into another fresh store: it returns
once every customer's Identify is queued (reading and queueing both done by
that one command). Every contender is a child process timed from its start to
its exit; its peak RSS is its VmHWM, read from /proc while it runs. The raw
pager runs before and after, and the faster of its runs is the reference.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench._procs import ROOT, child_env

TARGET_RATIO = 0.8
TARGET_RSS_MB = 200.0
_SEED_CHUNK = 20_000


@dataclass(frozen=True, slots=True)
class BackfillRun:
    """One contender's backfill: a store, and the ctsync that ran it."""

    seconds: float
    peak_rss_mb: float
    queued: int


@dataclass(frozen=True, slots=True)
class BackfillResults:
    customers: int
    raw_s: tuple[float, ...]  # the raw pager, start to exit
    raw_reading_s: tuple[float, ...]  # the raw pager, its reading alone
    runs: dict[str, BackfillRun]

    @property
    def raw_rate(self) -> float:
        return self.customers / min(self.raw_s)

    def rate(self, key: str) -> float:
        return self.customers / self.runs[key].seconds

    def ratio(self, key: str) -> float:
        return self.rate(key) / self.raw_rate


@contextlib.contextmanager
def emulator() -> Iterator[str]:
    """The emulator on a free loopback port; its URL."""
    log = ROOT / "bench" / "results" / "ctmock.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["node", str(ROOT / "tests" / "ctmock" / "server.mjs"), "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + 30
        while "listening " not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start: {log.read_text()[-500:]}")
            time.sleep(0.05)
        yield log.read_text().split("listening ", 1)[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def backfill_env(url: str, project: str) -> dict[str, str]:
    """The environment that points ``ctsync backfill`` at the emulator."""
    return {
        "CTP_PROJECT_KEY": project,
        "CTP_CLIENT_ID": "bench",
        "CTP_CLIENT_SECRET": "bench-secret",
        "CTP_AUTH_URL": url,
        "CTP_API_URL": url,
    }


def _raw_pages(url: str, project: str) -> tuple[int, float, float]:
    """The raw pager as a process: (customers, seconds start to exit, seconds reading)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.rawpage", url, project],
        env=child_env({}),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    elapsed = time.perf_counter() - started
    found = json.loads(done.stdout)
    return int(found["customers"]), elapsed, float(found["reading_s"])


def _backfill(
    url: str, project: str, store_url: str, tmp: Path, src: Path | None, *, wait: bool = False
) -> tuple[dict[str, object], float, float]:
    extra = {**backfill_env(url, project), "DATABASE_URL": store_url}
    extra["CTSYNC_LOG_LEVEL"] = "warning"
    if src is not None:
        extra["PYTHONPATH"] = str(src)
    out_path = tmp / "backfill.out"
    with out_path.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ctsync",
                "backfill",
                "customers",
                *(["--wait"] if wait else []),
            ],
            env=child_env(extra),
            stdout=out,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        peak = _PeakRss(proc.pid)
        _, status, _usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"ctsync backfill exited {proc.returncode}")
    summary = json.loads(out_path.read_text())
    return summary, elapsed, peak.mb()


class _PeakRss:
    """A child's peak RSS after its exec: VmHWM from /proc, read until it exits.

    wait4()'s ru_maxrss would do, but Linux counts in it the pages the child
    shared with this (large) benchmark process between fork and exec.
    """

    def __init__(self, pid: int, every_s: float = 0.02) -> None:
        self._path = Path(f"/proc/{pid}/status")
        self._kib = 0
        self._thread = threading.Thread(target=self._watch, args=(every_s,), daemon=True)
        self._thread.start()

    def _watch(self, every_s: float) -> None:
        while True:
            try:
                text = self._path.read_text()
            except OSError:  # gone (or a zombie whose status no longer says)
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self._kib = max(self._kib, int(line.split()[1]))
            if "VmHWM:" not in text:
                return
            time.sleep(every_s)

    def mb(self) -> float:
        """The peak seen, in MB (call after the child was waited for)."""
        self._thread.join(timeout=5)
        return self._kib / 1024


def seed(url: str, project: str, customers: int) -> None:
    """Fill the emulator's project with ``customers`` generated customers."""
    with httpx.Client(base_url=url, timeout=600) as control:
        for start in range(0, customers, _SEED_CHUNK):
            count = min(_SEED_CHUNK, customers - start)
            body = {"projectKey": project, "count": count, "start": start}
            control.post("/_ctmock/seed", json=body).raise_for_status()


def run_backfill(
    tmp: Path,
    stores: dict[str, str],
    *,
    customers: int,
    before_src: Path | None = None,
    wait_stores: dict[str, str] | None = None,
) -> BackfillResults:
    """Seed; page raw; backfill into each store in turn; page raw again. One emulator.

    Stores keyed ``<kind>-before`` are filled by the ctsync in ``before_src``;
    ``wait_stores`` (keyed ``<kind> --wait``) by ``backfill --wait``.
    """
    project = "bench"
    runs: dict[str, BackfillRun] = {}
    contenders = [(k, u, False) for k, u in stores.items()]
    contenders += [(k, u, True) for k, u in (wait_stores or {}).items()]
    with emulator() as url:
        seed(url, project, customers)
        seen, first, first_reading = _raw_pages(url, project)
        for key, store_url, wait in contenders:
            print(f"  backfill into {key} ...", flush=True)
            src = before_src if key.endswith("-before") else None
            summary, elapsed, rss = _backfill(url, project, store_url, tmp, src, wait=wait)
            if summary["processed"] != customers:
                msg = f"{key}: backfilled {summary['processed']} of {customers}"
                raise RuntimeError(msg)
            queued = summary["queued"]
            runs[key] = BackfillRun(elapsed, rss, int(queued) if isinstance(queued, int) else 0)
        seen_again, second, second_reading = _raw_pages(url, project)
    if not seen == seen_again == customers:
        msg = f"counts differ: raw {seen}/{seen_again}, seeded {customers}"
        raise RuntimeError(msg)
    return BackfillResults(customers, (first, second), (first_reading, second_reading), runs)


def backfill_table(res: BackfillResults) -> list[str]:
    """The markdown section of the backfill run."""
    raw = " / ".join(f"{res.customers / s:,.0f}" for s in res.raw_s)
    reading = min(res.raw_reading_s)
    rows = [
        f"| ctsync backfill{'' if '--wait' in key else ' (reads and stores)'}, {key} | "
        f"{run.seconds:.1f} | {res.rate(key):,.0f} | "
        f"{res.ratio(key):.2f}x | {run.peak_rss_mb:.0f} | {run.queued:,} |"
        for key, run in res.runs.items()
    ]
    return [
        f"## Backfill: {res.customers:,} customers from the commercetools emulator",
        "",
        "The emulator (`tests/ctmock/server.mjs`) on loopback. Raw paging = `python -m "
        "bench.rawpage`: ctsync's API client reading every page by id cursor and nothing else "
        "(before and after the backfills; the faster is the reference). Backfill = `python -m "
        "ctsync backfill customers` into a fresh store: it reads and stores every page, which "
        "the delivery side then queues; `--wait` rows return once every Identify is queued. "
        "Every row is a process timed from start to exit; peak RSS = its VmHWM after exec "
        "(read from /proc while it runs); `-before` rows "
        "are the ctsync given with `--before`.",
        "",
        "| run | seconds | customers/s | of raw | peak RSS MB | queued |",
        "|---|---:|---:|---:|---:|---:|",
        f"| raw paging | {min(res.raw_s):.1f} | {res.raw_rate:,.0f} (runs {raw}) | 1.00x | | |",
        *rows,
        "",
        f"The raw pager's reading alone (its start left out): {reading:.1f} s, "
        f"{res.customers / reading:,.0f} customers/s.",
        "",
    ]


def backfill_targets(res: BackfillResults) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for this ctsync's backfill runs (not the ``-before`` ones)."""
    found = []
    for key, run in res.runs.items():
        if key.endswith("-before") or key.endswith("--wait"):
            continue
        found += [
            (
                f"backfill ({key}) ≥ {TARGET_RATIO:g}x raw paging of the same emulator",
                f"{res.ratio(key):.2f}x ({res.rate(key):,.0f} vs {res.raw_rate:,.0f} customers/s)",
                res.ratio(key) >= TARGET_RATIO,
            ),
            (
                f"backfill ({key}) peak RSS < {TARGET_RSS_MB:g} MB at {res.customers:,} customers",
                f"{run.peak_rss_mb:.0f} MB",
                run.peak_rss_mb < TARGET_RSS_MB,
            ),
        ]
    return found
