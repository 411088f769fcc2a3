"""Logs never carry personal data or secrets, whichever entry point runs ctsync."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ctsync.logs import configure_logging, get_logger, hash_email
from tests import payloads
from tests.helpers import ROOT, free_port, wait_for

EMAIL = "Leak.Me@Example.com"
SECRET = "s3cret-webhook-token"


def _run_vercel_entry(tmp_path: Path, level: str) -> str:
    """``api/index.py`` under uvicorn, as Vercel (or any ASGI server) imports it."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/ctsync.db",
        "CTSYNC_WEBHOOK_SECRET": SECRET,
        "CTSYNC_LOG_LEVEL": level,
    }
    env.pop("SEGMENT_WRITE_KEY", None)
    log = tmp_path / f"out-{level}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.index:app", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: _up(url), 30, "the Vercel entry")
            body = payloads.created(email=EMAIL)
            r = httpx.post(f"{url}/api/webhook?token={SECRET}", json=body, timeout=10)
            assert r.status_code == 200, r.text
            change = payloads.change("ResourceUpdated")
            httpx.post(f"{url}/api/webhook?token={SECRET}", json=change, timeout=10)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return log.read_text()


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_vercel_entry_scrubs_its_logs_and_obeys_the_log_level(tmp_path: Path) -> None:
    info = _run_vercel_entry(tmp_path, "info")
    assert SECRET not in info, "a token in a query string reached the log"
    assert EMAIL.lower() not in info.lower()
    recorded = [
        json.loads(line)
        for line in info.splitlines()
        if line.startswith("{") and "recorded" in line
    ]
    assert recorded, f"no structured 'recorded' line in:\n{info[-2000:]}"
    assert recorded[0]["level"] == "info"
    quiet = _run_vercel_entry(tmp_path, "warning")
    assert '"recorded"' not in quiet, "CTSYNC_LOG_LEVEL=warning still logged info lines"


def test_emails_and_secret_parameters_are_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", json_output=True)
    get_logger("test").warning(
        "odd_answer",
        detail=f"customer {EMAIL} via https://x.example/hook?token=abc123&keep=1",
        writeKey="wk-live-123",
    )
    err = capsys.readouterr().err
    line = json.loads(err.strip().splitlines()[-1])
    assert EMAIL not in err
    assert hash_email(EMAIL) in line["detail"]
    assert "abc123" not in err
    assert "keep=1" in line["detail"]
    assert "wk-live-123" not in err
