"""Switching a mapping safely: stored events replayed through a new file, nothing sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ctsync.config import Settings
from ctsync.web import create_app
from tests import payloads
from tests.helpers import ThreadServer, wait_for
from tests.integration.test_cli import ctsync
from tests.order_payloads import order_created

NEW = """\
version: marketing-4
traits:
  email: {builtin: email}
  first_name: {builtin: firstName}
  lastName: {builtin: lastName}
  name: {builtin: name}
  tier: {jmespath: custom.fields.tier}
"""


@pytest.fixture
def server(db_url: str) -> Iterator[ThreadServer]:
    settings = Settings(DATABASE_URL=db_url, SEGMENT_WRITE_KEY="", CTSYNC_ALLOW_UNVERIFIED="true")  # type: ignore[call-arg]
    with ThreadServer(create_app(settings)) as s:
        for body in (
            payloads.created(custom={"fields": {"tier": "gold"}}),
            payloads.first_name_set(version=2, name="Janet"),
            order_created("o-1"),
        ):
            r = httpx.post(f"{s.url}/api/webhook", json=body, timeout=10)
            assert r.json()["status"] == "accepted", r.text
        wait_for(lambda: _stats(s)["messages"] == {"captured": 3}, what="all captured")
        yield s


def _stats(server: ThreadServer) -> Any:
    return httpx.get(f"{server.url}/api/admin/stats", timeout=10).json()


def _check(report: dict[str, Any]) -> None:
    assert report["mapping"] == "marketing-4"
    assert report["replayed"] == 3
    assert report["unchanged"] == 1  # the order: no trait in it
    created, renamed = report["changed"]
    assert created["type"] == "CustomerCreated"
    assert created["sentBy"] == ["ctsync-default-1"]
    [call] = created["calls"]
    assert call["call"] == "identify"
    assert call["traits"]["added"] == {"first_name": "Jane", "tier": "gold"}
    assert call["traits"]["removed"] == [
        "address",
        "commercetoolsCustomerId",
        "createdAt",
        "firstName",
    ]
    assert "changed" not in call["traits"]
    assert renamed["type"] == "CustomerFirstNameSet"
    assert renamed["calls"][0]["traits"] == {
        "added": {"first_name": "Janet"},
        "removed": ["firstName"],
    }


def test_cli_diff_shows_per_event_what_would_change_and_sends_nothing(
    server: ThreadServer, db_url: str, tmp_path: Path
) -> None:
    before = _stats(server)
    path = tmp_path / "new.yaml"
    path.write_text(NEW)
    env = {"DATABASE_URL": db_url, "SEGMENT_WRITE_KEY": ""}
    result = ctsync(env, "mapping", "diff", str(path), "--last", "10", "--json")
    _check(json.loads(result.stdout))
    text = ctsync(env, "mapping", "diff", str(path), "--since", "1h").stdout
    assert "3 event(s) replayed, 1 unchanged, 2 would change" in text
    assert 'traits added: {"first_name": "Janet"}' in text
    only_last = json.loads(
        ctsync(env, "mapping", "diff", str(path), "--last", "1", "--json").stdout
    )
    assert only_last["replayed"] == 1
    assert _stats(server) == before  # nothing queued, nothing sent


def test_admin_api_diff(server: ThreadServer) -> None:
    r = httpx.post(
        f"{server.url}/api/admin/mapping/diff", json={"mapping": NEW, "last": 10}, timeout=10
    )
    assert r.status_code == 200, r.text
    _check(r.json())
    same = httpx.post(
        f"{server.url}/api/admin/mapping/diff",
        json={"mapping": "version: ctsync-default-1\n"},
        timeout=10,
    ).json()
    assert same["changed"] == []
    assert same["unchanged"] == 3


def test_admin_api_diff_refuses_a_bad_file_naming_key_and_line(server: ThreadServer) -> None:
    r = httpx.post(
        f"{server.url}/api/admin/mapping/diff",
        json={"mapping": "version: 1\ntraits:\n  x: {builtin: shoeSize}\n"},
        timeout=10,
    )
    assert r.status_code == 400
    assert any("traits.x.builtin (line 3)" in p for p in r.json()["problems"])
    assert (
        httpx.post(f"{server.url}/api/admin/mapping/diff", json={}, timeout=10).status_code == 400
    )


def _queued_identifies(server: ThreadServer) -> list[dict[str, Any]]:
    messages = httpx.get(f"{server.url}/api/admin/messages?limit=100", timeout=10).json()
    return [m for m in messages["messages"] if m["event_id"] is None]


def test_apply_resend_changed_queues_one_identify_per_changed_customer(
    server: ThreadServer, db_url: str, tmp_path: Path
) -> None:
    r = httpx.post(f"{server.url}/api/webhook", json=payloads.created("c-2", email="same@x.io"))
    assert r.json()["status"] == "accepted"
    path = tmp_path / "new.yaml"
    path.write_text(NEW)
    env = {"DATABASE_URL": db_url, "SEGMENT_WRITE_KEY": ""}
    # c-1 gains first_name and tier; c-2 has no tier, but its firstName is renamed: both change
    applied = ctsync(env, "mapping", "apply", str(path), "--resend-changed")
    assert "queued 2 Identify call(s) of mapping marketing-4" in applied.stdout
    again = ctsync(env, "mapping", "apply", str(path), "--resend-changed")
    assert "queued 0 Identify call(s)" in again.stdout
    wait_for(lambda: len(_queued_identifies(server)) == 2, what="the resent Identifies")
    bodies = {
        m["user_id"]: json.loads(m["body"]) if isinstance(m["body"], str) else m["body"]
        for m in _queued_identifies(server)
    }
    assert bodies["jane.doe@example.com"]["traits"] == {
        "email": "jane.doe@example.com",
        "first_name": "Janet",
        "lastName": "Doe",
        "name": "Janet Doe",
        "tier": "gold",
    }
    assert "tier" not in bodies["same@x.io"]["traits"]


def test_apply_of_an_unchanged_mapping_queues_nothing(
    server: ThreadServer, db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "same.yaml"
    path.write_text("version: ctsync-default-2\n")
    env = {"DATABASE_URL": db_url, "SEGMENT_WRITE_KEY": ""}
    applied = ctsync(env, "mapping", "apply", str(path), "--resend-changed")
    assert "queued 0 Identify call(s)" in applied.stdout
