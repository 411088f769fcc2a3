"""Timelines and replay by filter through the JSON admin API and the CLI.

A Segment outage is simulated with the fake: it acknowledged the messages, then
lost them (``reset``); a replay by filter sends that customer's messages again.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctsync.config import Settings
from ctsync.web import create_app
from tests import payloads
from tests.fakes.segment import FakeSegment
from tests.helpers import ROOT, ThreadServer, wait_for

TOKEN = "admin-token-json-api-0123456789"
BEARER = {"authorization": f"Bearer {TOKEN}"}
FAST = {
    "CTSYNC_RETRY_BASE_S": "0.02",
    "CTSYNC_RETRY_CAP_S": "0.2",
    "CTSYNC_DRAIN_INTERVAL_S": "0.05",
}


@pytest.fixture
def fake() -> Iterator[FakeSegment]:
    with FakeSegment() as f:
        yield f


@pytest.fixture
def env(db_url: str, fake: FakeSegment) -> dict[str, str]:
    return {
        "DATABASE_URL": db_url,
        "SEGMENT_ENDPOINT": fake.url,
        "SEGMENT_WRITE_KEY": fake.write_key,
        "CTSYNC_ADMIN_TOKEN": TOKEN,  # required even under the opt-in below
        "CTSYNC_ALLOW_UNVERIFIED": "true",  # deliveries posted without a sender check
        "CTSYNC_LOG_LEVEL": "warning",
        **FAST,
    }


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[ThreadServer]:
    with ThreadServer(create_app(Settings(**env))) as s:
        yield s


def deliver(server: ThreadServer, body: Any) -> dict[str, Any]:
    r = httpx.post(f"{server.url}/api/webhook", json=body, timeout=10)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def api(server: ThreadServer, method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(method, f"{server.url}/api/admin{path}", headers=BEARER, timeout=10, **kw)


def settled(server: ThreadServer, n: int) -> None:
    """Wait until the store has recorded ``n`` deliveries (the fake may see them first)."""

    def count() -> bool:
        found = api(server, "GET", "/messages?status=delivered").json()["messages"]
        return len(found) == n

    wait_for(count, what=f"{n} delivered in the store")


def ctsync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ctsync", *args],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_timeline_json_shows_each_attempt(server: ThreadServer, fake: FakeSegment) -> None:
    fake.script([503])
    ev = deliver(server, payloads.created("c-1"))
    fake.wait_for(lambda: len(fake.messages) == 1)

    def steps() -> list[str]:
        r = api(server, "GET", f"/events/{ev['eventId']}/timeline")
        assert r.status_code == 200
        return [s["step"] for s in r.json()["timeline"]]

    fake.wait_for(lambda: steps()[-1] == "delivered")
    assert steps() == ["received", "mapped", "retry", "delivered"]
    timeline = api(server, "GET", f"/events/{ev['eventId']}/timeline").json()["timeline"]
    assert "(mapping ctsync-default-1)" in timeline[1]["detail"]
    assert httpx.get(f"{server.url}/api/admin/events/1/timeline", timeout=10).status_code == 401
    assert api(server, "GET", "/events/999/timeline").status_code == 404
    assert api(server, "GET", "/events/x/timeline").status_code == 400


def test_replay_by_filter_after_an_outage(server: ThreadServer, fake: FakeSegment) -> None:
    a1 = deliver(server, payloads.created("c-a", email="a@example.com"))
    a2 = deliver(server, payloads.first_name_set("c-a", version=2))
    b = deliver(server, payloads.created("c-b", email="b@example.com"))
    settled(server, 3)
    fake.reset()  # the outage: Segment acknowledged, then lost them
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    r = api(server, "GET", "/replay/preview", params={"customer": "c-a", "since": since})
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 2
    assert r.json()["retention"] is None
    r = api(server, "POST", "/replay/filter", json={"customer": "c-a", "since": since})
    assert r.json() == {"replayed": 2}
    want = a1["messageIds"] + a2["messageIds"]
    fake.wait_for(lambda: fake.message_ids() == want)
    assert b["messageIds"][0] not in fake.message_ids()
    r = api(server, "POST", "/replay/filter", json={})
    assert r.status_code == 400
    assert "name at least" in r.json()["error"]
    r = api(server, "POST", "/replay/filter", json={"status": "pending"})
    assert r.status_code == 400


def test_a_replay_resets_the_attempt_count(server: ThreadServer, fake: FakeSegment) -> None:
    fake.script([503, 400])
    ev = deliver(server, payloads.created("c-r"))
    fake.wait_for(lambda: api(server, "GET", "/messages?status=dead").json()["messages"])
    dead = api(server, "GET", "/messages?status=dead").json()["messages"][0]
    assert dead["attempts"] == 2
    assert api(server, "POST", "/replay", json={"ids": [dead["id"]]}).json() == {"replayed": 1}
    fake.wait_for(lambda: ev["messageIds"][0] in fake.message_ids())
    detail = api(server, "GET", f"/events/{ev['eventId']}").json()
    assert detail["messages"][0]["status"] == "delivered"
    assert detail["messages"][0]["attempts"] == 1


def test_cli_replay_by_filter_and_timeline(
    env: dict[str, str], server: ThreadServer, fake: FakeSegment
) -> None:
    ev = deliver(server, payloads.created("c-cli", email="cli@example.com"))
    settled(server, 1)
    fake.reset()
    shown = ctsync(env, "events", "--id", str(ev["eventId"]))
    assert shown.returncode == 0, shown.stderr
    for step in ("received", "mapped", "delivered"):
        assert step in shown.stdout
    dry = ctsync(env, "replay", "--customer", "c-cli", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would replay 1 message(s)" in dry.stdout
    assert "retention period" in dry.stderr
    assert fake.messages == []
    done = ctsync(env, "replay", "--email", "CLI@example.com", "--since", "2020-01-01")
    assert "replayed 1 message(s)" in done.stdout
    fake.wait_for(lambda: fake.message_ids() == ev["messageIds"])
    bad = ctsync(env, "replay", "--status", "pending")
    assert bad.returncode == 2


_FIELDS = st.sampled_from(["customer", "email", "since", "until", "status", "newIds", "x"])
_VALUES = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.sampled_from(["2026-11-30T14:00", "9999-12-31T23:59:59+14:00", "0001-01-01", "1e308"]),
)


def test_odd_filters_are_a_4xx_never_a_5xx(server: ThreadServer) -> None:
    answers: dict[int, int] = {}

    @given(body=st.dictionaries(_FIELDS, _VALUES, max_size=5))
    @settings(
        max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(body: dict[str, Any]) -> None:
        query = {k: str(v) for k, v in body.items() if v is not None}
        for r in (
            api(server, "GET", "/replay/preview", params=query),
            api(server, "POST", "/replay/filter", json=body),
            httpx.get(f"{server.url}/admin/events", params=query, timeout=10),
            httpx.get(f"{server.url}/admin/replay", params={**query, "preview": "1"}, timeout=10),
        ):
            answers[r.status_code] = answers.get(r.status_code, 0) + 1
            assert r.status_code < 500, (body, r.text)

    check()
    assert answers.get(400, 0) > 0


def test_a_partial_replay_warns_that_newer_traits_would_be_overtaken(
    server: ThreadServer,
) -> None:
    deliver(server, payloads.created("c-o", email="o@example.com"))
    deliver(server, payloads.first_name_set("c-o", version=2))
    settled(server, 2)
    newer = max(m["created_at"] for m in api(server, "GET", "/messages").json()["messages"])
    until = dt.datetime.fromtimestamp(newer - 1e-4, dt.UTC).isoformat()  # microsecond rounding
    partial = api(server, "GET", "/replay/preview", params={"customer": "c-o", "until": until})
    assert partial.json()["count"] == 1
    assert partial.json()["overtaken"].startswith("1 customer(s) have newer messages")
    whole = api(server, "GET", "/replay/preview", params={"customer": "c-o"})
    assert whole.json()["count"] == 2
    assert whole.json()["overtaken"] is None
