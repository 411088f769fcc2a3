"""Backfill: `ctsync backfill customers` against raw id-cursor paging of the same emulator.

The commercetools emulator (tests/ctmock/server.mjs, on loopback) is seeded
with N customers. The raw pager reads them all with ctsync's API client and
does nothing else (the floor any backfill pays for reading); then `python -m
ctsync backfill customers` reads, maps and stores them all into a fresh
SQLite store, as a child process whose peak RSS is taken from wait4(). The
raw pager runs before and after, and the faster of its runs is the reference.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench._procs import ROOT
from ctsync.commercetools import ApiConfig, CommercetoolsClient

TARGET_RATIO = 0.8
TARGET_RSS_MB = 200.0
_SEED_CHUNK = 20_000


@dataclass(frozen=True, slots=True)
class BackfillResults:
    customers: int
    raw_s: tuple[float, ...]
    backfill_s: float
    peak_rss_mb: float
    queued: int

    @property
    def raw_rate(self) -> float:
        return self.customers / min(self.raw_s)

    @property
    def backfill_rate(self) -> float:
        return self.customers / self.backfill_s

    @property
    def ratio(self) -> float:
        return self.backfill_rate / self.raw_rate


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


async def _raw_pages(url: str, project: str) -> tuple[int, float]:
    config = ApiConfig(project, "bench", "bench-secret", auth_url=url, api_url=url)
    async with CommercetoolsClient(config) as client:
        started = time.perf_counter()
        seen = 0
        async for page in client.pages("customers"):
            seen += len(page)
        return seen, time.perf_counter() - started


def _backfill(url: str, project: str, tmp: Path) -> tuple[dict[str, object], float, float]:
    env = {
        **os.environ,
        **backfill_env(url, project),
        "DATABASE_URL": f"sqlite:///{tmp}/backfill.db",
        "CTSYNC_LOG_LEVEL": "warning",
    }
    out_path = tmp / "backfill.out"
    with out_path.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ctsync", "backfill", "customers"],
            env=env,
            stdout=out,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"ctsync backfill exited {proc.returncode}")
    summary = json.loads(out_path.read_text())
    return summary, elapsed, usage.ru_maxrss / 1024  # Linux: KiB


def seed(url: str, project: str, customers: int) -> None:
    """Fill the emulator's project with ``customers`` generated customers."""
    with httpx.Client(base_url=url, timeout=600) as control:
        for start in range(0, customers, _SEED_CHUNK):
            count = min(_SEED_CHUNK, customers - start)
            body = {"projectKey": project, "count": count, "start": start}
            control.post("/_ctmock/seed", json=body).raise_for_status()


def run_backfill(tmp: Path, *, customers: int) -> BackfillResults:
    """Seed, page raw, backfill, page raw again; one emulator for all of it."""
    project = "bench"
    with emulator() as url:
        seed(url, project, customers)
        raws = []
        seen, first = asyncio.run(_raw_pages(url, project))
        raws.append(first)
        summary, elapsed, rss = _backfill(url, project, tmp)
        seen_again, second = asyncio.run(_raw_pages(url, project))
        raws.append(second)
    if not seen == seen_again == customers == summary["processed"]:
        msg = f"counts differ: raw {seen}/{seen_again}, backfill {summary['processed']}"
        raise RuntimeError(msg)
    queued = summary["queued"]
    return BackfillResults(
        customers, tuple(raws), elapsed, rss, int(queued) if isinstance(queued, int) else 0
    )


def backfill_table(res: BackfillResults) -> list[str]:
    """The markdown section of the backfill run."""
    raw = " / ".join(f"{res.customers / s:,.0f}" for s in res.raw_s)
    return [
        f"## Backfill: {res.customers:,} customers from the commercetools emulator",
        "",
        "The emulator (`tests/ctmock/server.mjs`) on loopback; raw paging = ctsync's API client "
        "reading every page by id cursor and nothing else (before and after the backfill, the "
        "faster is the reference); backfill = `python -m ctsync backfill customers` into a fresh "
        "SQLite store (process start included), its peak RSS from wait4().",
        "",
        "| run | seconds | customers/s | peak RSS MB | queued |",
        "|---|---:|---:|---:|---:|",
        f"| raw paging | {min(res.raw_s):.1f} | {res.raw_rate:,.0f} (runs {raw}) | | |",
        f"| ctsync backfill | {res.backfill_s:.1f} | {res.backfill_rate:,.0f} | "
        f"{res.peak_rss_mb:.0f} | {res.queued:,} |",
        "",
    ]


def backfill_targets(res: BackfillResults) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for the backfill run."""
    return [
        (
            f"backfill ≥ {TARGET_RATIO:g}x raw paging of the same emulator",
            f"{res.ratio:.2f}x ({res.backfill_rate:,.0f} vs {res.raw_rate:,.0f} customers/s)",
            res.ratio >= TARGET_RATIO,
        ),
        (
            f"backfill peak RSS < {TARGET_RSS_MB:g} MB at {res.customers:,} customers",
            f"{res.peak_rss_mb:.0f} MB",
            res.peak_rss_mb < TARGET_RSS_MB,
        ),
    ]
