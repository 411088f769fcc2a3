"""``ctsync check --url``: a deployment proven from the outside, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from ctsync.config import Settings
from ctsync.web import create_app
from tests.helpers import ROOT, ThreadServer

SECRET = "check-secret"
ADMIN = "check-admin-token"


@pytest.fixture
def deployment(sqlite_url: str) -> Iterator[ThreadServer]:
    settings = Settings(
        DATABASE_URL=sqlite_url, CTSYNC_WEBHOOK_SECRET=SECRET, CTSYNC_ADMIN_TOKEN=ADMIN
    )
    with ThreadServer(create_app(settings)) as server:
        yield server


def check(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CTSYNC_")}
    return subprocess.run(
        [sys.executable, "-m", "ctsync", "check", "--url", url],
        env={**clean, "COLUMNS": "200", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_working_deployment_passes_every_step(deployment: ThreadServer) -> None:
    done = check(deployment.url, CTSYNC_WEBHOOK_SECRET=SECRET, CTSYNC_ADMIN_TOKEN=ADMIN)
    assert done.returncode == 0, done.stdout + done.stderr
    for step in ("health: ok", "ready: ok", "delivery: ok", "admin: ok"):
        assert step in done.stdout
    assert "deployment works end to end" in done.stdout


def test_a_wrong_secret_fails_at_the_delivery_and_says_which_setting(
    deployment: ThreadServer,
) -> None:
    done = check(deployment.url, CTSYNC_WEBHOOK_SECRET="wrong", CTSYNC_ADMIN_TOKEN=ADMIN)
    assert done.returncode == 1
    assert "delivery: FAILED" in done.stdout
    assert "CTSYNC_WEBHOOK_SECRET" in done.stdout
    assert "admin:" not in done.stdout


def test_a_missing_admin_token_fails_at_the_admin_step(deployment: ThreadServer) -> None:
    done = check(deployment.url, CTSYNC_WEBHOOK_SECRET=SECRET)
    assert done.returncode == 1
    assert "delivery: ok" in done.stdout
    assert "admin: FAILED" in done.stdout
    assert "CTSYNC_ADMIN_TOKEN" in done.stdout


def test_an_unreachable_url_fails_at_health() -> None:
    done = check("http://127.0.0.1:9")
    assert done.returncode == 1
    assert "health: FAILED" in done.stdout
