"""Child processes for the benchmarks: servers on loopback, stopped by their own pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LOG_DIR = RESULTS / "logs"
PYCACHE = RESULTS / "pycache"
_SETTINGS = ("CTSYNC_", "DATABASE_URL", "POSTGRES_URL", "SEGMENT_", "VERCEL", "CTP_", "CRON_")


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a benchmark child: no ctsync settings but ``extra``.

    Bytecode is cached under bench/results/pycache (this machine sets
    PYTHONDONTWRITEBYTECODE, which would make every child compile every module).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTINGS)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return {**env, **(extra or {})}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``predicate`` (bounded); raise with ``what`` when it stays false."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while not predicate():
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout:g} s waiting for {what}"
            raise TimeoutError(msg)
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


class Child:
    """A Python module run as a child process (``python -m module args``), log to a file."""

    def __init__(self, name: str, module: str, *args: str, env: Mapping[str, str] | None = None):
        self.name = name
        self.argv = [sys.executable, "-m", module, *args]
        self.env = child_env(env)
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.proc.pid

    def start(self) -> Self:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM this child (its own pid only), then SIGKILL if it does not exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class HttpServer(Child):
    """A child that serves HTTP on 127.0.0.1:port; ``start`` returns once it answers."""

    def __init__(
        self,
        name: str,
        module: str,
        *args: str,
        port: int,
        health: str = "/api/health",
        env: Mapping[str, str] | None = None,
    ):
        super().__init__(name, module, *args, env=env)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._health = health

    def start(self) -> Self:
        super().start()
        wait_until(self._answers, timeout=60, what=f"{self.name} on port {self.port}")
        return self

    def _answers(self) -> bool:
        if not self.alive():
            msg = f"{self.name} exited: {self.tail()}"
            raise RuntimeError(msg)
        try:
            return httpx.get(self.url + self._health, timeout=2).status_code < 500
        except httpx.HTTPError:
            return False


def fake_segment(write_key: str) -> HttpServer:
    """Our fake Segment (tests/fakes/segment.py) as its own process."""
    port = free_port()
    return HttpServer(
        "fake-segment",
        "tests.fakes.segment",
        "--port",
        str(port),
        "--write-key",
        write_key,
        port=port,
        health="/_fake/stats",
    )
