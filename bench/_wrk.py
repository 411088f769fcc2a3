"""Load from a second process: Debian's ``wrk`` with bench/webhook.lua."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "webhook.lua"
_MARK = "BENCH_JSON "
_runs = itertools.count(1)


@dataclass(frozen=True, slots=True)
class WrkResult:
    """One wrk run: completed requests, failures and latency percentiles."""

    connections: int
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok_rps(self) -> float:
        """Requests answered 2xx per second (what was really accepted)."""
        return max(0, self.requests - self.non_2xx) / self.seconds if self.seconds else 0.0


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages when missing (needs root)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        msg = "wrk is missing and we are not root: run `apt-get install -y wrk` first"
        raise RuntimeError(msg)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "wrk"]
    if subprocess.run(install, env=env, check=False, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True, capture_output=True)
        subprocess.run(install, env=env, check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        msg = "apt-get installed wrk but it is not on PATH"
        raise RuntimeError(msg)
    return found


def run_wrk(
    wrk: str, url: str, template: Path, *, connections: int, seconds: float, threads: int = 2
) -> WrkResult:
    """POST unique deliveries to ``url`` for ``seconds`` over ``connections`` connections."""
    threads = max(1, min(threads, connections))
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        url,
        "--",
        str(template),
        f"{next(_runs) % 0x10000:04x}",  # keeps this run's keys apart from earlier runs'
    ]
    done = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=seconds + 60)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(_MARK)), None)
    if line is None:
        msg = f"wrk printed no result: {done.stdout[-1000:]} {done.stderr[-1000:]}"
        raise RuntimeError(msg)
    data = json.loads(line[len(_MARK) :])
    return WrkResult(
        connections=connections,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        non_2xx=data["status"],
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )
