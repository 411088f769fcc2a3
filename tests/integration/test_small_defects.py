"""Admin edge cases, request metrics and masked URLs (found by an outside audit)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from ctsync.config import Settings
from ctsync.store._postgres import display_url
from ctsync.web import create_app
from tests import payloads
from tests.fakes.segment import FakeSegment
from tests.helpers import ThreadServer, wait_for

TOKEN = "admin-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def server(db_url: str) -> Iterator[tuple[ThreadServer, FakeSegment]]:
    with FakeSegment() as fake:
        settings = Settings(
            DATABASE_URL=db_url,
            SEGMENT_ENDPOINT=fake.url,
            SEGMENT_WRITE_KEY=fake.write_key,
            CTSYNC_ALLOW_UNVERIFIED="true",
            CTSYNC_ADMIN_TOKEN=TOKEN,
            CTSYNC_DRAIN_INTERVAL_S="0.05",
        )
        with ThreadServer(create_app(settings)) as s:
            yield s, fake


def _count(metrics: str, code: str) -> float:
    found = re.search(rf'ctsync_webhook_requests_total{{code="{code}"}} ([0-9.e+]+)', metrics)
    return float(found.group(1)) if found else 0.0


def test_every_webhook_answer_is_counted(server: tuple[ThreadServer, FakeSegment]) -> None:
    s, _ = server
    before = httpx.get(f"{s.url}/metrics").text
    hook = f"{s.url}/api/webhook"
    assert httpx.post(hook, content=b"{", headers={"content-type": "application/json"}).is_error
    assert httpx.post(hook, content=b"x", headers={"content-type": "image/png"}).status_code == 415
    big = b"[" + b" " * (1024 * 1024 + 10) + b"]"
    r = httpx.post(hook, content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    after = httpx.get(f"{s.url}/metrics").text
    assert _count(after, "400") == _count(before, "400") + 1
    assert _count(after, "415") == _count(before, "415") + 1
    assert _count(after, "413") == _count(before, "413") + 1


def test_discard_all_discards_every_dead_letter(server: tuple[ThreadServer, FakeSegment]) -> None:
    s, fake = server
    fake.script([400, 400, 400, 400])
    for i in range(2):
        r = httpx.post(f"{s.url}/api/webhook", json=payloads.created(f"d-{i}", email=f"d{i}@x.io"))
        assert r.json()["status"] == "accepted"

    def dead() -> list[object]:
        got = httpx.get(f"{s.url}/api/admin/messages?status=dead", headers=AUTH).json()
        return list(got["messages"])

    wait_for(lambda: len(dead()) == 2, what="two dead letters")
    r = httpx.post(f"{s.url}/api/admin/discard", json={"all": True}, headers=AUTH)
    assert r.json() == {"discarded": 2}
    assert dead() == []


@pytest.mark.parametrize("raw", ["\u0661", "\u00b2", "9" * 19, "9" * 40, "-1", "1e3", "0x10", " 1"])
def test_an_odd_event_id_is_a_400_never_a_500(
    server: tuple[ThreadServer, FakeSegment], raw: str
) -> None:
    s, _ = server
    r = httpx.get(f"{s.url}/api/admin/events/{raw}", headers=AUTH)
    assert r.status_code in {400, 404}, r.text
    assert "error" in r.json()


def test_huge_ids_in_a_replay_or_discard_are_a_400(
    server: tuple[ThreadServer, FakeSegment],
) -> None:
    s, _ = server
    for verb in ("replay", "discard"):
        r = httpx.post(f"{s.url}/api/admin/{verb}", json={"ids": [2**70]}, headers=AUTH)
        assert r.status_code == 400, r.text


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("postgresql://app:p@ss@w0rd@db.example:5432/shop", "ss@w0rd"),
        ("postgres://app:hunter2@db.example/shop?sslmode=require&password=hunter3", "hunter3"),
        ("postgresql://app:hunter2@db.example/shop", "hunter2"),
    ],
)
def test_displayed_database_urls_hide_the_password(url: str, secret: str) -> None:
    shown = display_url(url)
    assert secret not in shown
    assert "db.example" in shown
    assert "***" in shown
