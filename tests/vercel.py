"""A real ``vercel build`` of the project, and its function run the way the platform runs it.

The build uses the pinned CLI in ``tools/vercel`` (``./dev test`` installs it), a
Python 3.12 (``vercel-runtime`` needs it) and uv, in a copy of the project (the
build writes into the root). The function runs as Vercel runs it: the bundle's
``vc__handler__python`` reports ``server-started`` over the Unix socket named
by ``VERCEL_IPC_PATH``, serves one request per invocation (it reports ``end``),
and the process is stopped (SIGSTOP) between invocations, so nothing of it runs
while it waits.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import ROOT, wait_for

VERCEL_CLI = ROOT / "tools" / "vercel" / "node_modules" / ".bin" / "vercel"


class Missing(Exception):
    """Something the build needs is not installed (``./dev test`` installs it)."""


def python312() -> str:
    """A Python 3.12 on this machine (PATH, then pyenv's versions): what Vercel runs."""
    candidates = [shutil.which("python3.12")]
    for root in (Path.home() / ".pyenv", Path("/root/.pyenv")):
        candidates += sorted(glob.glob(f"{root}/versions/3.12*/bin/python3"))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() == "True":
            return candidate
    raise Missing("no Python 3.12 found (PATH or ~/.pyenv/versions): vercel-runtime needs it")


def _uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` names itself in UV
    if not uv:
        raise Missing("uv not found")
    return uv


def build(workdir: Path) -> Path:
    """Copy the project to ``workdir``, run ``vercel build``, return ``.vercel/output``."""
    if not VERCEL_CLI.exists():
        raise Missing(f"{VERCEL_CLI} missing: run ./dev test (npm install in tools/vercel)")
    project = workdir / "project"
    _copy_project(project)
    (project / ".vercel").mkdir()
    # Offline stand-in for `vercel pull`: a `settings` object keeps the CLI off the API.
    stand_in = {"projectId": "prj_ctsync_test", "orgId": "team_ctsync_test", "settings": {}}
    (project / ".vercel" / "project.json").write_text(json.dumps(stand_in))
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    python = python312()
    for name, target in (("uv", _uv()), ("python3.12", python), ("python3", python)):
        (bin_dir / name).symlink_to(target)
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV", "PYTHONPATH"}}
    env |= {"PATH": f"{bin_dir}:{env.get('PATH', '')}", "VERCEL_TELEMETRY_DISABLED": "1"}
    done = subprocess.run(
        [str(VERCEL_CLI), "build", "--yes", "--standalone"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"vercel build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return project / ".vercel" / "output"


def _copy_project(target: Path) -> None:
    """What ``vercel deploy`` would upload: the files a push carries, minus .vercelignore."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    ignored = _vercelignore()
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        # A file deleted in the working tree is still listed by git.
        if source.is_file() and not _ignored(name, ignored):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _vercelignore() -> list[str]:
    path = ROOT / ".vercelignore"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(name: str, patterns: list[str]) -> bool:
    """gitignore-style, the subset .vercelignore uses: ``dir/`` and name globs, any depth."""
    parts = name.split("/")
    for pattern in patterns:
        if pattern.endswith("/"):
            if any(fnmatch.fnmatch(p, pattern[:-1]) for p in parts[:-1]):
                return True
        elif any(fnmatch.fnmatch(p, pattern) for p in parts):
            return True
    return False


class VercelFunction:
    """One built ``.func`` under the platform's protocol: IPC, one request per thaw."""

    def __init__(self, func_dir: Path, env: dict[str, str], python: str, log_dir: Path) -> None:
        self._dir = func_dir
        config = json.loads((func_dir / ".vc-config.json").read_text())
        self._socket_path = f"/tmp/vc-ipc-{uuid.uuid4().hex[:12]}.sock"  # short: AF_UNIX limit
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            **config.get("environment", {}),
            "VERCEL_IPC_PATH": self._socket_path,
            "VERCEL": "1",
            **env,
        }
        self._python = python
        self._handler = config["handler"].rsplit(".", 1)[0]
        self.messages: list[dict[str, Any]] = []
        self.log_path = log_dir / f"function-{uuid.uuid4().hex[:12]}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._invocations = 0
        self.port = 0

    def __enter__(self) -> VercelFunction:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(self._socket_path)
        server.listen(1)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [self._python, "-c", f"import {self._handler}"],
                cwd=self._dir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        threading.Thread(target=self._read_ipc, args=(server,), daemon=True).start()
        started = wait_for(lambda: self._message("server-started") or self._exited(), 60, "start")
        self.port = int(started["payload"]["httpPort"])
        self._stop()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)
            self._proc.terminate()
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        with contextlib.suppress(FileNotFoundError):
            Path(self._socket_path).unlink()

    def invoke(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Thaw, send one request, wait for the runtime's ``end``, freeze again."""
        assert self._proc is not None
        self._invocations += 1
        invocation = str(self._invocations)
        internal = {
            "x-vercel-internal-invocation-id": invocation,
            "x-vercel-internal-request-id": invocation,
        }
        headers = {**kwargs.pop("headers", {}), **internal}
        self._proc.send_signal(signal.SIGCONT)
        try:
            url = f"http://127.0.0.1:{self.port}{path}"
            response = httpx.request(method, url, headers=headers, timeout=60, **kwargs)
            wait_for(lambda: self._ended(invocation) or self._exited(), 30, "the invocation's end")
        finally:
            self._stop()
        return response

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _stop(self) -> None:
        assert self._proc is not None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGSTOP)

    def _exited(self) -> bool:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise AssertionError(f"the function exited: {self.logs()[-3000:]}")
        return False

    def _message(self, kind: str) -> dict[str, Any] | None:
        return next((m for m in list(self.messages) if m.get("type") == kind), None)

    def _ended(self, invocation: str) -> bool:
        return any(
            m.get("type") == "end" and m["payload"]["context"]["invocationId"] == invocation
            for m in list(self.messages)
        )

    def _read_ipc(self, server: socket.socket) -> None:
        with server, contextlib.closing(server.accept()[0]) as conn:
            pending = b""
            while chunk := conn.recv(65536):
                pending += chunk
                *complete, pending = pending.split(b"\0")
                self.messages += [json.loads(m) for m in complete if m]
