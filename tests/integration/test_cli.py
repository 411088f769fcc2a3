"""The ctsync command, run as users run it: a real process against a real store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ctsync.config import Settings
from ctsync.web import create_app
from tests import payloads
from tests.fakes.segment import FakeSegment
from tests.helpers import ROOT, ServerProcess, ThreadServer

EXAMPLES = ROOT / "examples"


def ctsync(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "ctsync", *args],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"ctsync {args} exited {result.returncode}: {result.stderr}")
    return result


@pytest.fixture
def env(db_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": db_url,
        "SEGMENT_WRITE_KEY": "",
        "CTSYNC_LOG_LEVEL": "warning",
        "CTSYNC_ALLOW_UNVERIFIED": "true",
    }


def _sending_env(db_url: str, fake: FakeSegment) -> dict[str, str]:
    """Settings for a ctsync that sends to the fake Segment."""
    return {
        "DATABASE_URL": db_url,
        "SEGMENT_WRITE_KEY": fake.write_key,
        "SEGMENT_ENDPOINT": fake.url,
        "CTSYNC_LOG_LEVEL": "warning",
        "CTSYNC_ALLOW_UNVERIFIED": "true",
    }


def test_send_sample_then_events_show_the_identify_calls(env: dict[str, str]) -> None:
    settings = Settings(**env)
    with ThreadServer(create_app(settings)) as server:
        sent = ctsync(
            env, "send-sample", "--url", f"{server.url}/api/webhook", "--dir", str(EXAMPLES)
        )
        assert "02-customer-created.json: 200" in sent.stdout
        shown = ctsync(env, "events", "--json", "--limit", "50")
    events = json.loads(shown.stdout)
    # the examples tell one customer's story, posted in the order of their numbers
    story = [(e["type"], e["status"]) for e in sorted(events, key=lambda e: e["id"])]
    assert story == [
        ("ResourceCreated", "ignored"),  # the subscription's test delivery
        ("CustomerCreated", "accepted"),
        ("CustomerFirstNameSet", "accepted"),
        ("CustomerAddressAdded", "ignored"),  # the chosen (billing) address is unchanged
        ("ResourceUpdated", "failed"),  # no payload, no API credentials
        ("CustomerUpdated", "accepted"),  # the seed format
        ("CustomerUpdated", "accepted"),  # the seed format in a Platform frame, no customer.id
        ("CustomerEmailChanged", "accepted"),
        ("CustomerDeleted", "accepted"),
    ]
    by_type = {e["type"]: e for e in events}
    assert [m["type"] for m in by_type["CustomerEmailChanged"]["messages"]] == [
        "alias",
        "identify",
    ]
    assert [m["type"] for m in by_type["CustomerDeleted"]["messages"]] == ["track"]
    created = [e for e in events if e["type"] == "CustomerCreated"]
    assert created
    [message] = created[0]["messages"]
    assert message["type"] == "identify"
    assert message["body"]["userId"] == message["user_id"]
    by_email = json.loads(
        ctsync(env, "events", "--json", "--email", message["user_id"].upper()).stdout
    )
    assert {e["id"] for e in by_email} >= {created[0]["id"]}


def test_transform_is_a_dry_run_of_the_mapping(env: dict[str, str]) -> None:
    out = ctsync(env, "transform", str(EXAMPLES / "02-customer-created.json"))
    result = json.loads(out.stdout)
    assert result["status"] == "accepted"
    [identify] = result["messages"]
    assert identify["traits"]["address"]["city"]
    assert "password" not in json.dumps(identify)


def test_transform_explains_a_bad_file(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"notificationType": "Message", "type": "CustomerCreated"}')
    out = ctsync(env, "transform", str(bad), check=False)
    assert out.returncode == 1
    assert "resource" in out.stderr


def test_dead_letters_are_listed_and_replayed_by_drain(db_url: str) -> None:
    with FakeSegment() as fake:
        env = _sending_env(db_url, fake)
        settings = Settings(**env, CTSYNC_INLINE_DELIVERY="true")
        fake.script([400])  # a 4xx no retry mends (401/403 are retried)
        with ThreadServer(create_app(settings)) as server:
            httpx.post(f"{server.url}/api/webhook", json=payloads.created())
        listed = ctsync(env, "dlq")
        assert "400" in listed.stdout
        assert fake.messages == []
        assert "replayed 1" in ctsync(env, "replay", "--all").stdout
        drained = json.loads(ctsync(env, "drain").stdout)
        assert drained["delivered"] == 1
        assert len(fake.messages) == 1
        assert "empty" in ctsync(env, "dlq").stdout


def test_replay_without_ids_explains_itself(env: dict[str, str]) -> None:
    out = ctsync(env, "replay", check=False)
    assert out.returncode == 2
    assert "--all" in out.stderr


def test_drain_exits_non_zero_only_on_configuration_errors(env: dict[str, str]) -> None:
    assert ctsync(env, "drain").returncode == 0
    bad = ctsync({**env, "DATABASE_URL": "mysql://nope"}, "drain", check=False)
    assert bad.returncode == 2
    assert "DATABASE_URL" in bad.stderr


def test_worker_delivers_and_stops_cleanly_on_sigterm(db_url: str) -> None:
    with FakeSegment() as fake:
        env = _sending_env(db_url, fake)
        settings = Settings(**env)
        with ThreadServer(create_app(settings, background_drainer=False)) as server:
            for i in range(5):
                httpx.post(
                    f"{server.url}/api/webhook",
                    json=payloads.created(f"c-{i}", email=f"w{i}@example.com"),
                )
        worker = ServerProcess(env, "worker", "--concurrency", "2").start(wait_healthy=False)
        fake.wait_for(lambda: len(fake.messages) == 5, timeout=30)
        assert worker.proc is not None
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(timeout=30) == 0


def test_help_lists_every_command() -> None:
    out = ctsync({}, "--help").stdout
    for name in (
        "serve",
        "worker",
        "drain",
        "events",
        "dlq",
        "replay",
        "transform",
        "send-sample",
        "check",
        "db",
    ):
        assert name in out
