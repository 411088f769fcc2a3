"""Where the time goes: py-spy on ctsync while the benchmark load runs.

    uv run python -m bench.profile accept [--store sqlite|postgres] [--seconds 12]
    uv run python -m bench.profile drain  [--store sqlite|postgres] [--messages 10000]
    uv run python -m bench.profile backfill [--store sqlite|postgres] [--customers 20000]

``accept``: ``ctsync serve`` under wrk (c=8), sampled from outside with ``py-
spy record --pid``. ``drain``: ``python -m bench.delivery ctsync`` started
under py-spy. ``backfill``: ``python -m ctsync backfill customers`` from the
commercetools emulator seeded with ``--customers``, started under py-spy.
Every thread is sampled; samples whose innermost frame is a wait (an idle
worker thread, the event loop's select) are left out, so the percentages are
of the time some thread of ctsync was working (start-up imports are left out
too). The collapsed stacks go to bench/results/profile-<what>-<store>.txt (for
flamegraph.pl or speedscope); the top functions are printed, by own time and
by inclusive time.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench import _payloads, _pg
from bench._backfill import backfill_env, emulator, seed
from bench._procs import RESULTS, HttpServer, child_env, fake_segment, free_port
from bench._wrk import ensure_wrk, run_wrk
from bench.delivery import preload, read_messages, write_messages

WRITE_KEY = "bench-write-key"
_IDLE = (
    "wait (threading.py",
    "select (selectors.py",
    "_worker (concurrent/futures/thread.py",
    "get (queue.py",
    "_wait_for_tstate_lock",
    "run (concurrent/futures/thread.py",
    "SqliteStore._writer (",  # its own frame: waiting on the job queue (C code)
    "WorkerThread.run (",  # anyio's idle worker threads
)


def _py_spy() -> str:
    found = shutil.which("py-spy")
    if not found:
        msg = "py-spy is missing: `uv sync` installs it (a dev dependency)"
        raise RuntimeError(msg)
    return found


@contextlib.contextmanager
def _store(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "postgres":
        with _pg.fresh_database("profile") as url:
            yield url
    else:
        yield f"sqlite:///{tmp}/profile.db"


def profile_accept(store_url: str, out: Path, seconds: float) -> str:
    """Sample ``ctsync serve`` while wrk posts unique deliveries at c=8."""
    wrk = ensure_wrk()
    template = out.with_suffix(".json")
    template.write_text(_payloads.template(_payloads.run_id()))
    with fake_segment(WRITE_KEY) as fake:
        port = free_port()
        env = {
            "DATABASE_URL": store_url,
            "SEGMENT_WRITE_KEY": WRITE_KEY,
            "SEGMENT_ENDPOINT": fake.url,
            "CTSYNC_LOG_LEVEL": "warning",
            "CTSYNC_ALLOW_UNVERIFIED": "true",  # wrk posts without credentials
        }
        server = HttpServer(
            "profile-serve", "ctsync", "serve", "--port", str(port), port=port, env=env
        )
        with server:
            url = f"{server.url}/api/webhook"
            run_wrk(wrk, url, template, connections=8, seconds=2)
            argv = [_py_spy(), "record", "--pid", str(server.pid), "--rate", "100"]
            argv += ["--duration", str(round(seconds)), "--format", "raw", "--output", str(out)]
            with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as spy:
                time.sleep(0.5)
                res = run_wrk(wrk, url, template, connections=8, seconds=seconds)
                spy.wait(seconds + 60)
    template.unlink(missing_ok=True)
    return f"{res.ok_rps:.0f} req/s (slowed by the sampling), p99 {res.p99_ms:.0f} ms"


def profile_drain(store_url: str, out: Path, messages: int, tmp: Path) -> str:
    """Sample a drain of ``messages`` pre-loaded messages, started under py-spy."""
    path = tmp / "messages.json"
    write_messages(path, _payloads.run_id(), messages)
    preload(store_url, read_messages(path))
    with fake_segment(WRITE_KEY) as fake:
        argv = [_py_spy(), "record", "--rate", "100", "--format", "raw", "--output", str(out)]
        argv += ["--", sys.executable, "-m", "bench.delivery", "ctsync"]
        argv += ["--fake", fake.url, "--write-key", WRITE_KEY, "--db", store_url]
        done = subprocess.run(argv, capture_output=True, text=True, env=child_env(), check=True)
    return done.stdout.strip().splitlines()[-1]


def profile_backfill(store_url: str, out: Path, customers: int) -> str:
    """Sample a backfill of ``customers`` from the emulator, started under py-spy."""
    with emulator() as url:
        seed(url, "bench", customers)
        env = child_env({**backfill_env(url, "bench"), "DATABASE_URL": store_url})
        argv = [_py_spy(), "record", "--rate", "100", "--format", "raw", "--output", str(out)]
        argv += ["--", sys.executable, "-m", "ctsync", "backfill", "customers"]
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
        elapsed = time.perf_counter() - started
    last = done.stdout.strip().splitlines()[-1]
    return f"{customers / elapsed:,.0f} customers/s (slowed by the sampling): {last}"


def _frame(raw: str) -> str:
    """'func (path/to/file.py:12)' -> 'func (to/file.py)'."""
    name, _, where = raw.partition(" (")
    if not where:
        return name or "(native)"
    return f"{name} ({'/'.join(where.split(':')[0].rsplit('/', 2)[-2:])})"


def summarize(path: Path, top: int = 25) -> str:
    """Own and inclusive time per function, over the samples where a thread worked."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    ours: set[str] = set()
    total = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        n = int(count)
        if any(marker in frames[-1] for marker in _IDLE):
            idle += n
            continue
        if any("importlib._bootstrap" in f for f in frames):
            continue  # start-up, not the work measured
        total += n
        names = [_frame(f) for f in frames]
        ours.update(name for name, f in zip(names, frames, strict=True) if "ctsync/" in f)
        own[names[-1]] += n
        for name in set(names):
            incl[name] += n
    lines = [f"{total} working samples ({idle} idle left out)", "", "own time:"]
    lines += [f"  {100 * v / total:5.1f}%  {k}" for k, v in own.most_common(top)]
    lines += ["", "inclusive time, ctsync's functions:"]
    mine = [(k, v) for k, v in incl.most_common() if k in ours][:top]
    lines += [f"  {100 * v / total:5.1f}%  {k}" for k, v in mine]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("what", choices=["accept", "drain", "backfill"])
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"profile-{args.what}-{args.store}.txt"
    with (
        tempfile.TemporaryDirectory(prefix="ctsync-profile-") as tmp,
        _store(args.store, Path(tmp)) as url,
    ):
        if args.what == "accept":
            outcome = profile_accept(url, out, args.seconds)
        elif args.what == "backfill":
            outcome = profile_backfill(url, out, args.customers)
        else:
            outcome = profile_drain(url, out, args.messages, Path(tmp))
    print(f"{args.what} on {args.store}: {outcome}")
    print(f"collapsed stacks: {out}\n")
    print(summarize(out))


if __name__ == "__main__":
    main()
