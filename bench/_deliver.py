"""(b): delivery throughput to the fake Segment, every contender in a fresh process.

The fake is reset before each contender and asked afterwards what it got, so
a row counts only messages that arrived (and shows duplicates, if any). Every
contender runs once per round, in a rotated order; the faster run counts
(other load on a shared machine only ever slows a run down). Each round
queues the messages afresh, under new message ids.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import _payloads
from bench._procs import ROOT, child_env
from bench.delivery import preload, read_messages, write_messages


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    key: str
    label: str
    messages: int
    seconds: float
    cpu_s: float
    received: int
    duplicates: int
    dropped: int
    requests: int | None

    @property
    def rate(self) -> float:
        """Messages that arrived per second."""
        return self.received / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_message(self) -> float:
        """The contender's own CPU (all its threads) per message that arrived."""
        return 1e6 * self.cpu_s / self.received if self.received else float("nan")


@dataclass
class DeliveryResults:
    messages: int
    runs: dict[str, list[DeliveryRow]] = field(default_factory=dict)
    preload_s: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> list[DeliveryRow]:
        """Each contender's fastest run, in the order they were planned."""
        return [max(runs, key=lambda r: r.rate) for runs in self.runs.values()]

    def row(self, key: str) -> DeliveryRow | None:
        runs = self.runs.get(key)
        return max(runs, key=lambda r: r.rate) if runs else None


def run_delivery(
    fake_url: str,
    write_key: str,
    stores: dict[str, str],
    tmp: Path,
    *,
    messages: int,
    rounds: int = 2,
    log: Callable[[str], None] = print,
    before_src: Path | None = None,
) -> DeliveryResults:
    """Raw ceiling, ctsync on each store, analytics-python (raised queue, then default).

    Stores keyed ``<kind>-before`` are drained by the ctsync in ``before_src``.
    """
    results = DeliveryResults(messages)
    path = tmp / "messages.json"
    started = time.perf_counter()
    n = write_messages(path, _payloads.run_id(), messages)
    results.preload_s["mapping"] = time.perf_counter() - started
    bodies = read_messages(path)
    plan = _plan(fake_url, write_key, stores, path, n, before_src)
    for r in range(rounds):
        for kind, url in stores.items():
            started = time.perf_counter()
            preload(url, _renamed(bodies, r))
            results.preload_s[kind] = (
                results.preload_s.get(kind, 0.0) + time.perf_counter() - started
            )
        for key, label, argv, src in plan[r % len(plan) :] + plan[: r % len(plan)]:
            row = _contender(fake_url, key, label, argv, n, src)
            results.runs.setdefault(key, []).append(row)
            log(
                f"  {label:<48} {row.received:6d} msgs in {row.seconds:6.2f} s"
                f" = {row.rate:8.0f} msg/s" + (f"  dropped {row.dropped}" if row.dropped else "")
            )
    results.runs = {key: results.runs[key] for key, _, _, _ in plan}
    return results


Planned = tuple[str, str, list[str], Path | None]  # key, label, argv, source of an earlier ctsync


def _plan(
    fake_url: str,
    write_key: str,
    stores: dict[str, str],
    path: Path,
    n: int,
    before_src: Path | None,
) -> list[Planned]:
    common = ["--fake", fake_url, "--write-key", write_key]
    from_file = [*common, "--messages", str(path)]
    plan: list[Planned] = [
        ("raw", "raw ceiling: httpx, 100 per POST, from memory", ["raw", *from_file], None)
    ]
    for k, url in stores.items():
        kind, _, when = k.partition("-")
        label = f"ctsync drain, {_STORE_LABEL[kind]} outbox" + (", before" if when else "")
        src = before_src if when else None
        plan.append((f"ctsync-{k}", label, ["ctsync", *common, "--db", url], src))
    plan += [
        (
            "analytics",
            f"analytics-python, max_queue_size={n + 1}",
            ["analytics", *from_file, "--max-queue", str(n + 1)],
            None,
        ),
        (
            "analytics-default",
            "analytics-python, default max_queue_size",
            ["analytics", *from_file],
            None,
        ),
    ]
    return plan


def _renamed(bodies: list[dict[str, Any]], round_no: int) -> list[dict[str, Any]]:
    """The messages under ids of their own for this round (the store keeps earlier rounds')."""
    if round_no == 0:
        return bodies
    return [
        {**b, "messageId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{b['messageId']}/{round_no}"))}
        for b in bodies
    ]


_STORE_LABEL = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def _contender(
    fake_url: str, key: str, label: str, argv: list[str], messages: int, src: Path | None
) -> DeliveryRow:
    httpx.post(f"{fake_url}/_fake/reset", timeout=10).raise_for_status()
    done = subprocess.run(
        [sys.executable, "-m", "bench.delivery", *argv],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env({"PYTHONPATH": str(src)} if src else None),
        timeout=600,
    )
    if done.returncode != 0:
        msg = f"{key} failed: {done.stderr[-2000:]}"
        raise RuntimeError(msg)
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    stats = httpx.get(f"{fake_url}/_fake/stats", timeout=10).json()
    return DeliveryRow(
        key=key,
        label=label,
        messages=messages,
        seconds=float(out["seconds"]),
        cpu_s=float(out["cpu_s"]),
        received=int(stats["unique_message_ids"]),
        duplicates=int(stats["duplicates"]),
        dropped=int(out.get("dropped") or 0),
        requests=out.get("requests"),
    )
