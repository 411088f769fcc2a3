"""The dashboard at /admin over real HTTP: access, sessions, CSRF, pages and repairs.

The same app as in production under uvicorn on loopback, on SQLite and PostgreSQL,
delivering to the fake Segment. (The browser tests drive the same pages in Chromium.)
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ctsync.config import Settings
from ctsync.web import create_app
from tests import payloads
from tests.fakes.segment import FakeSegment
from tests.helpers import ThreadServer, wait_for

TOKEN = "admin-token-for-tests-0123456789"
FAST = {
    "CTSYNC_RETRY_BASE_S": "0.02",
    "CTSYNC_RETRY_CAP_S": "0.2",
    "CTSYNC_DRAIN_INTERVAL_S": "0.05",
}
BEARER = {"authorization": f"Bearer {TOKEN}"}
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@pytest.fixture
def fake() -> Iterator[FakeSegment]:
    with FakeSegment() as f:
        yield f


def start(db_url: str, fake: FakeSegment, **env: str) -> ThreadServer:
    values = {
        "DATABASE_URL": db_url,
        "SEGMENT_ENDPOINT": fake.url,
        "SEGMENT_WRITE_KEY": fake.write_key,
        **FAST,
        **env,
    }
    return ThreadServer(create_app(Settings(**values))).__enter__()


@pytest.fixture
def server(db_url: str, fake: FakeSegment) -> Iterator[ThreadServer]:
    # deliveries are posted without a sender check; the admin token is still required
    s = start(db_url, fake, CTSYNC_ADMIN_TOKEN=TOKEN, CTSYNC_ALLOW_UNVERIFIED="true")
    yield s
    s.__exit__(None, None, None)


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


def logged_in(server: ThreadServer) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=server.url, timeout=10)
    csrf = csrf_of(client.get("/admin/login"))
    r = client.post("/admin/login", data={"csrf": csrf, "token": TOKEN})
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/"
    home = client.get("/admin/")
    assert home.status_code == 200
    return client, csrf_of(home)


def deliver(server: ThreadServer, body: Any) -> dict[str, Any]:
    r = httpx.post(f"{server.url}/api/webhook", json=body, timeout=10)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def test_pages_need_a_login_and_the_cookie_is_strict(server: ThreadServer) -> None:
    r = httpx.get(f"{server.url}/admin/events", timeout=10)
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/login"
    client = httpx.Client(base_url=server.url, timeout=10)
    csrf = csrf_of(client.get("/admin/login"))
    wrong = client.post("/admin/login", data={"csrf": csrf, "token": "nope"})
    assert wrong.headers["location"] == "/admin/login?failed=1"
    ok = client.post("/admin/login", data={"csrf": csrf, "token": TOKEN})
    cookie = ok.headers["set-cookie"].lower()
    page = client.get("/admin/events")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "secure" not in cookie  # loopback: the browser would drop a Secure cookie on http
    assert client.get("/admin/events").status_code == 200


def test_the_cookie_is_secure_off_loopback(server: ThreadServer) -> None:
    client = httpx.Client(base_url=server.url, timeout=10, headers={"host": "ops.example.com"})
    page = client.get("/admin/login")
    assert "; secure" in page.headers["set-cookie"].lower()


def test_a_post_without_the_csrf_token_is_refused(server: ThreadServer) -> None:
    anonymous = httpx.post(f"{server.url}/admin/login", data={"token": TOKEN}, timeout=10)
    assert anonymous.status_code == 403
    client, csrf = logged_in(server)
    for path, data in (
        ("/admin/replay-messages", {"id": "1"}),
        ("/admin/discard", {"id": "1"}),
        ("/admin/replay", {"customer": "c-1"}),
        ("/admin/dry-run", {"payload": "{}"}),
        ("/admin/logout", {}),
    ):
        r = client.post(path, data=data)
        assert r.status_code == 403, path
        assert "CSRF" in r.text
        r = client.post(path, data={**data, "csrf": "0" * 64})
        assert r.status_code == 403, path
    assert client.post("/admin/dry-run", data={"payload": "{}", "csrf": csrf}).status_code == 200


def test_no_token_and_no_opt_in_means_no_dashboard(db_url: str, fake: FakeSegment) -> None:
    s = start(db_url, fake)
    try:
        for path in ("/admin/", "/admin/login", "/admin/events/1"):
            r = httpx.get(f"{s.url}{path}", timeout=10)
            assert r.status_code == 403
            assert "CTSYNC_ADMIN_TOKEN" in r.text
        r = httpx.post(f"{s.url}/admin/replay", data={"customer": "c-1"}, timeout=10)
        assert r.status_code == 403
    finally:
        s.__exit__(None, None, None)


def test_a_local_trial_opens_the_dashboard_without_login(db_url: str, fake: FakeSegment) -> None:
    s = start(db_url, fake, CTSYNC_ALLOW_UNVERIFIED="true")
    try:
        client = httpx.Client(base_url=s.url, timeout=10)
        page = client.get("/admin/")
        assert page.status_code == 200
        assert "Outbox depth" in page.text
        assert client.post("/admin/dry-run", data={"payload": "{}"}).status_code == 403
    finally:
        s.__exit__(None, None, None)


def test_find_a_customer_and_read_the_timeline(server: ThreadServer, fake: FakeSegment) -> None:
    fake.script([500])
    result = deliver(server, payloads.created("c-42", email="Ann.Smith@Example.com"))
    fake.wait_for(lambda: len(fake.messages) == 1)
    client, _ = logged_in(server)
    page = client.get("/admin/events", params={"email": "ann.smith@example.com"})
    assert f'href="/admin/events/{result["eventId"]}"' in page.text
    assert "no events match" in client.get("/admin/events", params={"email": "x@y.zz"}).text

    def timeline() -> str:
        t = client.get(f"/admin/events/{result['eventId']}").text
        return t if 'data-step="delivered"' in t else ""

    text = wait_for(timeline, what="the delivered step")
    assert 'data-step="received"' in text
    assert 'data-step="mapped"' in text
    assert 'data-step="retry"' in text
    assert "HTTP 500" in text
    assert "HTTP 200" in text
    assert result["messageIds"][0] in text
    # which mapping produced the call: the built-in file's declared version
    assert "mapping version: ctsync-default-1" in text


def test_secrets_never_show(db_url: str, fake: FakeSegment) -> None:
    s = start(
        db_url,
        fake,
        CTSYNC_ADMIN_TOKEN=TOKEN,
        CTSYNC_WEBHOOK_SECRET="hook-secret-xyz",
        CTP_CLIENT_SECRET="ct-secret-xyz",
    )
    try:
        body = payloads.created("c-7")
        body["customer"]["password"] = "hash-secret-xyz"
        r = httpx.post(f"{s.url}/api/webhook?token=hook-secret-xyz", json=body, timeout=10).json()
        client, _ = logged_in(s)
        paths = ("/admin/config", f"/admin/events/{r['eventId']}", "/admin/", "/admin/events")
        pages = [client.get(p).text for p in paths]
        pages.append(client.get(f"/api/admin/events/{r['eventId']}/timeline", headers=BEARER).text)
        for page in pages:
            for secret in ("hook-secret-xyz", "ct-secret-xyz", "hash-secret-xyz", TOKEN):
                assert secret not in page
            assert fake.write_key not in page
        assert "CTSYNC_WEBHOOK_SECRET" in pages[0]
        assert "set (hidden)" in pages[0]
    finally:
        s.__exit__(None, None, None)


def test_dead_letters_by_reason_replay_and_discard(server: ThreadServer, fake: FakeSegment) -> None:
    client, csrf = logged_in(server)
    fake.script([400])
    first = deliver(server, payloads.created("c-1", email="a@example.com"))
    wait_for(lambda: client.get("/admin/dead").text.count('name="id"') == 1, what="1 dead")
    fake.script([400])
    deliver(server, payloads.created("c-2", email="b@example.com"))
    wait_for(lambda: client.get("/admin/dead").text.count('name="id"') == 2, what="2 dead")
    page = client.get("/admin/dead").text
    assert "2 messages: " in page
    reason = re.search(r'name="reason" value="([^"]*)"', page)
    assert reason
    ids = re.findall(r'name="id" value="(\d+)"', page)
    r = client.post("/admin/discard", data={"csrf": csrf, "id": ids[1]})
    assert r.status_code == 303
    assert "discarded+1" in r.headers["location"]
    r = client.post(
        "/admin/replay-messages",
        data={"csrf": csrf, "reason": html.unescape(reason.group(1)), "all": "1"},
    )
    assert "replayed+1" in r.headers["location"]
    fake.wait_for(lambda: first["messageIds"][0] in fake.message_ids())
    assert "The dead-letter queue is empty" in client.get("/admin/dead").text


def test_replay_by_filter_previews_then_resends(server: ThreadServer, fake: FakeSegment) -> None:
    mine = deliver(server, payloads.created("c-9", email="nine@example.com"))
    other = deliver(server, payloads.created("c-8", email="eight@example.com"))
    client, csrf = logged_in(server)
    settled = {"preview": "1", "since": "2020-01-01", "status": "delivered"}
    wait_for(lambda: "<b>2</b>" in client.get("/admin/replay", params=settled).text)
    fake.reset()  # Segment lost what it acknowledged during its outage
    preview = client.get("/admin/replay", params={"preview": "1", "customer": "c-9"}).text
    assert re.search(r"<b>1</b> message\(s\) will be queued again", preview)
    assert "reaches past the retention period" in preview  # no start of range given
    r = client.post("/admin/replay", data={"csrf": csrf, "customer": "c-9"})
    assert "queued+1" in r.headers["location"]
    fake.wait_for(lambda: fake.message_ids() == mine["messageIds"])
    assert other["messageIds"][0] not in fake.message_ids()
    # New messageIds on request (when Segment saw the original ones).
    delivered = {"preview": "1", "customer": "c-9", "status": "delivered"}
    wait_for(lambda: "<b>1</b>" in client.get("/admin/replay", params=delivered).text)
    r = client.post("/admin/replay", data={"csrf": csrf, "customer": "c-9", "new_ids": "on"})
    assert "queued+1" in r.headers["location"]
    fake.wait_for(lambda: len(fake.messages) == 2)
    assert fake.message_ids()[1] != mine["messageIds"][0]
    assert fake.messages[1]["traits"]["email"] == "nine@example.com"


def test_odd_ids_and_cookies_are_not_errors(server: ThreadServer) -> None:
    client, csrf = logged_in(server)
    for raw in ("\u00b2", "\u0663", "9" * 30, "-1"):
        assert client.get(f"/admin/events/{raw}").status_code == 404
        assert client.get("/admin/events", params={"before": raw}).status_code == 200
        r = client.post("/admin/replay-messages", data={"csrf": csrf, "id": raw})
        assert "replayed+0" in r.headers["location"]
    cookie = "ctsync_session=\u00b2.x.1.y".encode()
    forged = httpx.get(f"{server.url}/admin/", headers={"cookie": cookie}, timeout=10)
    assert forged.status_code == 303  # no session: to the login page


def test_a_replay_by_filter_needs_a_filter(server: ThreadServer) -> None:
    client, csrf = logged_in(server)
    r = client.post("/admin/replay", data={"csrf": csrf})
    assert r.status_code == 400
    assert "name at least a customer" in r.text
    r = client.get("/admin/replay", params={"preview": "1", "since": "yesterday"})
    assert r.status_code == 400
    assert "since: not a date" in r.text


def test_overview_chart_and_dry_run(server: ThreadServer, fake: FakeSegment) -> None:
    deliver(server, payloads.created("c-3"))
    fake.wait_for(lambda: len(fake.messages) == 1)
    client, csrf = logged_in(server)
    for rng in ("hour", "day", "week"):
        page = client.get("/admin/", params={"range": rng}).text
        assert "<polyline" in page
        assert 'data-testid="total-received">1<' in page
    assert 'data-testid="total-delivered">1<' in page
    body = json.dumps(payloads.created("c-5", email="Dry@Example.com"))
    page = client.post("/admin/dry-run", data={"csrf": csrf, "payload": body}).text
    assert "&#34;userId&#34;: &#34;dry@example.com&#34;" in page
    bad = client.post("/admin/dry-run", data={"csrf": csrf, "payload": "{"}).text
    assert 'role="alert"' in bad


def test_events_are_paged(server: ThreadServer) -> None:
    ids = [deliver(server, payloads.created(f"c-p{i}"))["eventId"] for i in range(53)]
    client, _ = logged_in(server)
    first = client.get("/admin/events", params={"type": "CustomerCreated"}).text
    shown = [int(i) for i in re.findall(r'href="/admin/events/(\d+)"', first)]
    assert shown == sorted(ids, reverse=True)[:50]
    older = re.search(r'href="/admin/events\?([^"]+)">Older events', first)
    assert older
    second = client.get("/admin/events?" + html.unescape(older.group(1))).text
    rest = [int(i) for i in re.findall(r'href="/admin/events/(\d+)"', second)]
    assert rest == sorted(ids, reverse=True)[50:]
    assert "Older events" not in second
