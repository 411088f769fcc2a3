"""(a) and (c): webhook accept throughput and latency under wrk, every server in one run.

Every contender is its own process on loopback, all started up front: the
validation-only ceiling, ``ctsync serve`` on SQLite and on PostgreSQL (a fresh
database each, delivering to the fake Segment in the background as in
production), and the seed design. Rounds alternate the order, so a burst of
load from elsewhere on a shared machine does not land on one contender only;
the median over rounds is reported. Between runs we wait until the fake Segment
stops receiving, so one server's background delivery does not steal CPU from
the next server's run.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import _payloads
from bench._procs import HttpServer, cpu_seconds, free_port
from bench._wrk import WrkResult, run_wrk

WARMUP_S = 2.0


@dataclass(frozen=True, slots=True)
class Before:
    """An earlier ctsync to measure beside today's: its ``src`` folder and a label."""

    src: Path
    label: str
    pg_url: str | None = None


@dataclass(frozen=True, slots=True)
class Contender:
    key: str
    label: str
    start: Callable[[], HttpServer]
    db_url: str | None = None


@dataclass
class Cell:
    """All runs of one contender at one concurrency."""

    runs: list[WrkResult] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)  # server CPU per run, delivery included

    @property
    def rps(self) -> float:
        """Median 2xx answers per second."""
        return statistics.median(r.ok_rps for r in self.runs)

    @property
    def p50_ms(self) -> float:
        return statistics.median(r.p50_ms for r in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)

    @property
    def cpu_ms_per_request(self) -> float:
        """Server CPU per 2xx answer, its background delivery included (all runs)."""
        answered = sum(r.requests - r.non_2xx for r in self.runs)
        return 1000 * sum(self.cpu_s) / answered if answered else float("nan")

    @property
    def failures(self) -> int:
        return sum(r.non_2xx + r.socket_errors for r in self.runs)


@dataclass
class AcceptResults:
    seconds: float
    rounds: int
    connections: tuple[int, ...]
    labels: dict[str, str] = field(default_factory=dict)
    cells: dict[tuple[str, int], Cell] = field(default_factory=dict)
    answered_2xx: dict[str, int] = field(default_factory=dict)
    stored: dict[str, dict[str, int]] = field(default_factory=dict)

    def cell(self, key: str, connections: int) -> Cell | None:
        return self.cells.get((key, connections))


def contenders(
    fake_url: str,
    write_key: str,
    tmp: Path,
    pg_url: str | None,
    *,
    before: Before | None = None,
) -> list[Contender]:
    """The servers to compare (PostgreSQL only when a database was given).

    ``before``: an earlier ctsync's source to run beside today's, each on a store
    of its own, for a before/after comparison in one run.
    """

    def ctsync(name: str, db_url: str, src: Path | None = None) -> Callable[[], HttpServer]:
        env = {
            "DATABASE_URL": db_url,
            "SEGMENT_WRITE_KEY": write_key,
            "SEGMENT_ENDPOINT": fake_url,
            "CTSYNC_LOG_LEVEL": "warning",
            "CTSYNC_ALLOW_UNVERIFIED": "true",  # wrk posts without credentials
        }
        if src is not None:
            env["PYTHONPATH"] = str(src)
        return lambda: _server(name, "ctsync", "serve", env=env)

    sqlite_url = f"sqlite:///{tmp}/accept.db"
    store_only_url = f"sqlite:///{tmp}/accept-store-only.db"
    found = [
        Contender(
            "ceiling",
            "validation only (FastAPI)",
            lambda: _server("ceiling", "bench.apps", "ceiling"),
        ),
        Contender(
            "sqlite", "ctsync serve, SQLite", ctsync("ctsync-sqlite", sqlite_url), sqlite_url
        ),
        Contender(
            "store-only",
            "parse + durable insert only (ctsync's store, no mapping or delivery)",
            lambda: _server("store-only", "bench.apps", "store-only", "--db", store_only_url),
            store_only_url,
        ),
    ]
    if pg_url is not None:
        found.append(
            Contender(
                "postgres", "ctsync serve, PostgreSQL", ctsync("ctsync-postgres", pg_url), pg_url
            )
        )
    if before is not None:
        old_sqlite = f"sqlite:///{tmp}/accept-before.db"
        found.append(
            Contender(
                "sqlite-before",
                f"ctsync serve, SQLite, before ({before.label})",
                ctsync("ctsync-sqlite-before", old_sqlite, before.src),
                old_sqlite,
            )
        )
        if before.pg_url is not None:
            found.append(
                Contender(
                    "postgres-before",
                    f"ctsync serve, PostgreSQL, before ({before.label})",
                    ctsync("ctsync-postgres-before", before.pg_url, before.src),
                    before.pg_url,
                )
            )
    seed_args = ("seed", "--segment", fake_url, "--write-key", write_key)
    found.append(
        Contender(
            "seed",
            "seed design (identify + flush)",
            lambda: _server("seed", "bench.apps", *seed_args),
        )
    )
    return found


def _server(name: str, module: str, *args: str, env: dict[str, str] | None = None) -> HttpServer:
    port = free_port()
    return HttpServer(name, module, *args, "--port", str(port), port=port, env=env)


def run_accept(
    wrk: str,
    fake_url: str,
    servers: list[Contender],
    tmp: Path,
    *,
    connections: tuple[int, ...] = (8, 32),
    seconds: float = 10.0,
    rounds: int = 2,
    log: Callable[[str], None] = print,
) -> AcceptResults:
    """wrk against every server at every concurrency, ``seconds`` in total per cell."""
    results = AcceptResults(seconds, rounds, connections)
    results.labels = {s.key: s.label for s in servers}
    template = tmp / "delivery-template.json"
    template.write_text(_payloads.template(_payloads.run_id()))
    per_run = max(1.0, seconds / rounds)
    with _running(servers) as running:
        for s in servers:
            res = run_wrk(wrk, _webhook(running[s.key]), template, connections=8, seconds=WARMUP_S)
            results.answered_2xx[s.key] = res.requests - res.non_2xx
            _quiesce(fake_url)
        for r in range(rounds):
            order = servers[r % len(servers) :] + servers[: r % len(servers)]
            for conns in connections:
                for s in order:
                    cell = results.cells.setdefault((s.key, conns), Cell())
                    res = _measure(wrk, fake_url, running[s.key], template, conns, per_run, cell)
                    results.answered_2xx[s.key] += res.requests - res.non_2xx
                    log(_line(s.label, conns, res))
    for s in servers:
        if s.db_url is not None:
            results.stored[s.key] = _stored(s.db_url)
    return results


def _measure(
    wrk: str,
    fake_url: str,
    server: HttpServer,
    template: Path,
    conns: int,
    seconds: float,
    cell: Cell,
) -> WrkResult:
    """One wrk run; the server's CPU is counted until its background delivery is done."""
    before = cpu_seconds(server.pid)
    res = run_wrk(wrk, _webhook(server), template, connections=conns, seconds=seconds)
    _quiesce(fake_url)
    cell.runs.append(res)
    cell.cpu_s.append(cpu_seconds(server.pid) - before)
    return res


def _line(label: str, conns: int, res: WrkResult) -> str:
    failures = res.non_2xx + res.socket_errors
    return (
        f"  {label:<32} c={conns:<3} {res.ok_rps:8.0f} req/s"
        f"  p50 {res.p50_ms:6.1f} ms  p99 {res.p99_ms:7.1f} ms"
        + (f"  failures {failures}" if failures else "")
    )


def _webhook(server: HttpServer) -> str:
    return f"{server.url}/api/webhook"


@contextlib.contextmanager
def _running(servers: list[Contender]) -> Iterator[dict[str, HttpServer]]:
    with contextlib.ExitStack() as stack:
        yield {s.key: stack.enter_context(s.start()) for s in servers}


def _quiesce(fake_url: str, *, timeout: float = 60.0) -> None:
    """Wait until the fake Segment has received nothing new for 0.5 s (bounded)."""
    deadline = time.monotonic() + timeout
    last, stable = -1, 0
    while time.monotonic() < deadline and stable < 3:
        count = httpx.get(f"{fake_url}/_fake/stats", timeout=10).json()["messages"]
        stable = stable + 1 if count == last else 0
        last = count
        time.sleep(0.25)


def _stored(db_url: str) -> dict[str, int]:
    """Events by status in a contender's store, read after it stopped."""
    from ctsync.store import open_store
    from ctsync.store._ops import counts

    store = open_store(db_url)
    try:
        return dict(store.read(counts)["events"])
    finally:
        store.close()
