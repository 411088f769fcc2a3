"""The commercetools API emulator (tests/ctmock/server.mjs) as a child process on loopback.

In a test module::

    @pytest.fixture(scope="module")
    def ctmock() -> Iterator[CtMock]:
        with CtMock.started() as mock:
            yield mock

``./dev test`` installs the emulator (``npm install`` from the root package.json).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import ROOT, wait_for

__all__ = ["CtMock"]

_SCRIPT = ROOT / "tests" / "ctmock" / "server.mjs"
_PACKAGE = ROOT / "node_modules" / "@labdigital" / "commercetools-mock"


def _unavailable() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not _PACKAGE.is_dir():
        return "@labdigital/commercetools-mock is not installed (./dev test runs npm install)"
    return None


class CtMock:
    """A running emulator: its URL, the CTP_* settings that point at it, and its controls."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.log = log
        self.project_key = f"p{uuid.uuid4().hex[:8]}"
        self.http = httpx.Client(base_url=url, timeout=60)

    @classmethod
    @contextlib.contextmanager
    def started(cls) -> Iterator[CtMock]:
        """Start the emulator on a free loopback port; stop it afterwards."""
        problem = _unavailable()
        if problem:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"the commercetools emulator is required under CI=true: {problem}")
            pytest.skip(problem)
        log = Path(tempfile.mkstemp(prefix="ctmock-", suffix=".log")[1])
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["node", str(_SCRIPT), "0"], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
            )
        try:
            url = wait_for(lambda: _listening(proc, log), 30, "the commercetools emulator")
            mock = cls(proc, url, log)
            try:
                yield mock
            finally:
                mock.http.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def env(self) -> dict[str, str]:
        """The CTP_* variables of an API client for this emulator's project."""
        return {
            "CTP_PROJECT_KEY": self.project_key,
            "CTP_CLIENT_ID": "ctsync-test",
            "CTP_CLIENT_SECRET": "not-a-real-secret",
            "CTP_AUTH_URL": self.url,
            "CTP_API_URL": self.url,
            "CTP_SCOPES": f"manage_project:{self.project_key}",
        }

    def new_project(self) -> str:
        """Switch to a fresh, empty project key (tests sharing one emulator stay apart)."""
        self.project_key = f"p{uuid.uuid4().hex[:8]}"
        return self.project_key

    def seed(self, count: int, *, start: int = 0, last_modified_at: str | None = None) -> None:
        """Add ``count`` customers (customer{i}@example.com) through the emulator's JS API."""
        body: dict[str, Any] = {"projectKey": self.project_key, "count": count, "start": start}
        if last_modified_at:
            body["lastModifiedAt"] = last_modified_at
        self.http.post("/_ctmock/seed", json=body).raise_for_status()

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        clear: bool = False,
        after: int = 0,
    ) -> None:
        """The next ``times`` API calls (not token requests) answer ``status``.

        ``clear``: first drop the failures still queued; ``after``: let that many
        calls through first.
        """
        body: dict[str, Any] = {"status": status, "times": times, "clear": clear, "after": after}
        if retry_after is not None:
            body["retryAfter"] = retry_after
        self.http.post("/_ctmock/fail", json=body).raise_for_status()

    def set_subscription_status(self, key: str, status: str) -> None:
        """Set a subscription's health, as commercetools does when delivery fails."""
        body = {"projectKey": self.project_key, "key": key, "status": status}
        self.http.post("/_ctmock/subscription-status", json=body).raise_for_status()

    def stats(self) -> dict[str, int]:
        """How many queries, single reads and token requests the emulator answered."""
        data: dict[str, int] = self.http.get("/_ctmock/stats").json()
        return data

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to the project's API as any client would make it (token included)."""
        token = self.http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("t", "t")
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        return self.http.request(method, f"/{self.project_key}{path}", headers=headers, **kwargs)

    def create_customer(self, **fields: Any) -> dict[str, Any]:
        """A customer created through the API (version 1, as commercetools would have it)."""
        response = self.api("POST", "/customers", json=fields)
        response.raise_for_status()
        customer: dict[str, Any] = response.json()["customer"]
        return customer

    def update_customer(self, customer: dict[str, Any], *actions: dict[str, Any]) -> dict[str, Any]:
        """Apply update actions; the customer at its new version."""
        body = {"version": customer["version"], "actions": list(actions)}
        response = self.api("POST", f"/customers/{customer['id']}", json=body)
        response.raise_for_status()
        updated: dict[str, Any] = response.json()
        return updated


def _listening(proc: subprocess.Popen[bytes], log: Path) -> str | None:
    if proc.poll() is not None:
        raise AssertionError(f"the emulator exited: {log.read_text()[-2000:]}")
    for line in log.read_text().splitlines():
        if line.startswith("listening "):
            return line.split(" ", 1)[1].strip()
    return None
