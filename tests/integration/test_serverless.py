"""On Vercel without a database: deliveries are refused with a 503 that names the setting."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ctsync.config import Settings
from ctsync.web import create_app
from tests import payloads
from tests.helpers import ThreadServer


def test_vercel_without_a_database_refuses_deliveries_and_writes_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where the default SQLite file would go
    settings = Settings(VERCEL="1", CTSYNC_WEBHOOK_SECRET="s", CTSYNC_ADMIN_TOKEN="a")
    with ThreadServer(create_app(settings)) as server:
        assert httpx.get(f"{server.url}/api/health").status_code == 200
        answer = httpx.post(
            f"{server.url}/api/webhook",
            json=payloads.created(),
            headers={"Authorization": "Bearer s"},
        )
        ready = httpx.get(f"{server.url}/api/ready", headers={"Authorization": "Bearer a"})
    assert answer.status_code == 503
    assert answer.headers["Retry-After"]
    assert "DATABASE_URL" in answer.json()["error"]
    assert ready.status_code == 503
    assert list(tmp_path.iterdir()) == []


def test_vercel_with_an_explicit_sqlite_file_is_refused_too(tmp_path: Path) -> None:
    settings = Settings(
        VERCEL="1", DATABASE_URL=f"sqlite:///{tmp_path}/x.db", CTSYNC_WEBHOOK_SECRET="s"
    )
    with ThreadServer(create_app(settings)) as server:
        answer = httpx.post(
            f"{server.url}/api/webhook",
            json=payloads.created(),
            headers={"Authorization": "Bearer s"},
        )
    assert answer.status_code == 503
    assert "DATABASE_URL" in answer.json()["error"]
    assert not (tmp_path / "x.db").exists()
