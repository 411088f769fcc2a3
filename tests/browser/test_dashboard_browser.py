"""The dashboard in Chromium, as the integration engineer uses it.

A real ``ctsync serve`` child process (SQLite, and PostgreSQL once) delivers to the
fake Segment, which fails on demand. Each page's screenshot is kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests import payloads
from tests.fakes.segment import FakeSegment
from tests.helpers import ServerProcess, wait_for

TOKEN = "browser-admin-token-0123456789"
Start = Callable[[str], ServerProcess]


@pytest.fixture
def fake() -> Iterator[FakeSegment]:
    with FakeSegment() as f:
        yield f


@pytest.fixture
def serve(fake: FakeSegment, tmp_path: Path) -> Iterator[Start]:
    started: list[ServerProcess] = []

    def start(db_url: str) -> ServerProcess:
        env = {
            "DATABASE_URL": db_url,
            "SEGMENT_ENDPOINT": fake.url,
            "SEGMENT_WRITE_KEY": fake.write_key,
            "CTSYNC_ADMIN_TOKEN": TOKEN,
            "CTSYNC_WEBHOOK_SECRET": "browser-hook-secret",
            "CTSYNC_RETRY_BASE_S": "0.02",
            "CTSYNC_RETRY_CAP_S": "0.2",
            "CTSYNC_DRAIN_INTERVAL_S": "0.05",
            "CTSYNC_TEST_LOG": str(tmp_path / "serve.log"),
        }
        server = ServerProcess(env).start()
        started.append(server)
        return server

    yield start
    for s in started:
        s.kill()


def deliver(server: ServerProcess, body: Any) -> dict[str, Any]:
    r = httpx.post(f"{server.url}/api/webhook?token=browser-hook-secret", json=body, timeout=10)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def log_in(page: Page, server: ServerProcess, shots: Path) -> None:
    page.goto(f"{server.url}/admin/")
    expect(page).to_have_url(f"{server.url}/admin/login")
    page.screenshot(path=shots / "login.png")
    page.get_by_label("Admin token").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not the admin token")
    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def admin_get(server: ServerProcess, path: str) -> Any:
    headers = {"authorization": f"Bearer {TOKEN}"}
    return httpx.get(f"{server.url}/api/admin{path}", headers=headers, timeout=10).json()


def settled(server: ServerProcess, n: int) -> None:
    """Wait until the store recorded ``n`` deliveries (the fake may see them first)."""
    found = lambda: len(admin_get(server, "/messages?status=delivered")["messages"]) == n  # noqa: E731
    wait_for(found, what=f"{n} delivered")


def find_and_read_timeline(
    page: Page, server: ServerProcess, fake: FakeSegment, shots: Path, tag: str
) -> None:
    fake.script([500])
    ev = deliver(server, payloads.created("c-100", email="Grace.Hopper@Example.com"))
    deliver(server, payloads.created("c-101", email="someone.else@example.com"))
    fake.wait_for(lambda: len(fake.messages) == 2)
    settled(server, 2)
    log_in(page, server, shots)
    page.get_by_role("link", name="Events").click()
    page.get_by_label("Email").fill("grace.hopper@example.com")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table tr")
    expect(rows).to_have_count(2)  # the header and Grace's event
    page.screenshot(path=shots / f"events-{tag}.png", full_page=True)
    page.get_by_role("link", name=str(ev["eventId"]), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Event #{ev['eventId']}")
    steps = page.locator("ol.timeline li")
    expect(steps).to_have_count(4)
    expect(steps.nth(0)).to_contain_text("received")
    expect(steps.nth(1)).to_contain_text("mapped")
    expect(steps.nth(2)).to_contain_text("retry")
    expect(steps.nth(2)).to_contain_text("HTTP 500")
    expect(steps.nth(3)).to_contain_text("delivered")
    expect(steps.nth(3)).to_contain_text("HTTP 200")
    expect(page.locator("body")).not_to_contain_text("browser-hook-secret")
    page.screenshot(path=shots / f"timeline-{tag}.png", full_page=True)


def test_find_a_customer_and_read_the_timeline(
    page: Page, serve: Start, fake: FakeSegment, sqlite_url: str, shots: Path
) -> None:
    server = serve(sqlite_url)
    find_and_read_timeline(page, server, fake, shots, "sqlite")
    page.get_by_role("link", name="Overview").click()
    expect(page.get_by_test_id("total-received")).to_have_text("2")
    page.screenshot(path=shots / "overview.png", full_page=True)


@pytest.mark.postgres
def test_the_same_on_postgresql(
    page: Page, serve: Start, fake: FakeSegment, pg_url: str, shots: Path
) -> None:
    server = serve(pg_url)
    find_and_read_timeline(page, server, fake, shots, "postgres")


def test_replay_a_dead_letter(
    page: Page, serve: Start, fake: FakeSegment, sqlite_url: str, shots: Path
) -> None:
    server = serve(sqlite_url)
    fake.script([400])
    ev = deliver(server, payloads.created("c-200", email="dead@example.com"))
    wait_for(lambda: admin_get(server, "/messages?status=dead")["messages"], what="a dead letter")
    log_in(page, server, shots)
    page.get_by_role("link", name="Dead letters").click()
    checkbox = page.get_by_role("checkbox", name=re.compile(r"select \d+"))
    expect(checkbox).to_have_count(1)
    expect(page.get_by_role("heading", level=2)).to_contain_text("HTTP 400")
    page.screenshot(path=shots / "dead-letters.png", full_page=True)
    checkbox.check()
    page.get_by_role("button", name="Replay selected").click()
    expect(page.get_by_role("status")).to_have_text("replayed 1")
    fake.wait_for(lambda: ev["messageIds"][0] in fake.message_ids())
    settled(server, 1)
    page.goto(f"{server.url}/admin/events/{ev['eventId']}")
    steps = page.locator("ol.timeline li")
    expect(steps.last).to_contain_text("delivered")
    expect(page.locator("ol.timeline")).to_contain_text("replayed")


def test_replay_by_filter_after_an_outage(
    page: Page, serve: Start, fake: FakeSegment, sqlite_url: str, shots: Path
) -> None:
    server = serve(sqlite_url)
    mine = deliver(server, payloads.created("c-300", email="lost@example.com"))
    mine2 = deliver(server, payloads.first_name_set("c-300", version=2))
    other = deliver(server, payloads.created("c-301", email="fine@example.com"))
    settled(server, 3)
    fake.reset()  # the outage: Segment acknowledged these, then lost them
    log_in(page, server, shots)
    page.get_by_role("link", name="Replay").click()
    page.get_by_label("Customer id").fill("c-300")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("preview-count")).to_contain_text("2 message(s)")
    expect(page.get_by_test_id("retention")).to_contain_text("CTSYNC_RETENTION_DAYS=30")
    page.screenshot(path=shots / "replay-preview.png", full_page=True)
    page.get_by_role("button", name="Replay 2 message(s)").click()
    expect(page.get_by_role("status")).to_have_text("queued 2 message(s) again")
    want = mine["messageIds"] + mine2["messageIds"]
    fake.wait_for(lambda: fake.message_ids() == want)
    assert other["messageIds"][0] not in fake.message_ids()


def test_dry_run_and_configuration(page: Page, serve: Start, sqlite_url: str, shots: Path) -> None:
    server = serve(sqlite_url)
    log_in(page, server, shots)
    page.get_by_role("link", name="Dry run").click()
    page.locator("textarea[name=payload]").fill(json.dumps(payloads.created("c-400")))
    page.get_by_role("button", name="Run").click()
    result = page.get_by_test_id("dry-run-result")
    expect(result).to_contain_text('"userId": "jane.doe@example.com"')
    expect(result).to_contain_text('"type": "identify"')
    page.screenshot(path=shots / "dry-run.png", full_page=True)
    page.get_by_role("link", name="Configuration").click()
    expect(page.locator("table")).to_contain_text("CTSYNC_ADMIN_TOKEN")
    body = page.locator("body")
    for secret in (TOKEN, "browser-hook-secret"):
        expect(body).not_to_contain_text(secret)
    page.screenshot(path=shots / "config.png", full_page=True)


def test_a_post_without_the_csrf_token_is_refused(
    page: Page, serve: Start, sqlite_url: str, shots: Path
) -> None:
    server = serve(sqlite_url)
    log_in(page, server, shots)
    page.get_by_role("link", name="Dry run").click()
    page.locator("textarea[name=payload]").fill("{}")
    page.locator("main form input[name=csrf]").evaluate("input => input.remove()")
    with page.expect_response(f"{server.url}/admin/dry-run") as answer:
        page.get_by_role("button", name="Run").click()
    assert answer.value.status == 403
    expect(page.get_by_role("alert")).to_contain_text("CSRF")
    page.screenshot(path=shots / "csrf-refused.png")


def test_usable_on_a_phone(page: Page, serve: Start, sqlite_url: str, shots: Path) -> None:
    server = serve(sqlite_url)
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, server, shots)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the screen: tables scroll inside their box
    expect(page.get_by_role("link", name="Dead letters")).to_be_visible()
    page.screenshot(path=shots / "overview-phone.png", full_page=True)
