"""Mapping files as users use them: checked by the CLI, used by the running service."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from ctsync.config import Settings
from ctsync.web import create_app
from tests import payloads
from tests.fakes.segment import FakeSegment
from tests.helpers import ROOT, ThreadServer
from tests.integration.test_cli import ctsync

MAPPING = """\
version: marketing-3
traits:
  email: {builtin: email}
  first_name: {builtin: firstName}
  tier: {jmespath: custom.fields.tier}
"""


def test_mapping_check_accepts_the_built_in_file_and_names_bad_keys(tmp_path: Path) -> None:
    good = ctsync({}, "mapping", "check", str(ROOT / "src/ctsync/mapping/default.yaml"))
    assert "ok (version ctsync-default-1" in good.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ntraits:\n  tier: {jmespath: 'custom.[['}\n")
    refused = ctsync({}, "mapping", "check", str(bad), check=False)
    assert refused.returncode == 2
    assert "traits.tier.jmespath (line 3)" in refused.stderr


def test_transform_with_a_mapping_file(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING)
    delivery = tmp_path / "d.json"
    delivery.write_text(json.dumps(payloads.created(custom={"fields": {"tier": "gold"}})))
    result = ctsync({}, "transform", "--mapping", str(path), str(delivery))
    traits = json.loads(result.stdout)["messages"][0]["traits"]
    assert traits == {"email": "jane.doe@example.com", "first_name": "Jane", "tier": "gold"}


def test_a_bad_mapping_file_stops_start_up(tmp_path: Path, sqlite_url: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\nidentity: mail\n")
    env = {"DATABASE_URL": sqlite_url, "CTSYNC_MAPPING": str(path)}
    result = ctsync(env, "drain", check=False)
    assert result.returncode == 2
    assert "identity (line 2)" in result.stderr


def test_the_service_sends_what_its_mapping_file_says(tmp_path: Path, sqlite_url: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING)
    with FakeSegment() as fake:
        settings = Settings(
            DATABASE_URL=sqlite_url,  # type: ignore[call-arg]
            SEGMENT_ENDPOINT=fake.url,
            SEGMENT_WRITE_KEY=fake.write_key,
            CTSYNC_MAPPING=str(path),
            CTSYNC_DRAIN_INTERVAL_S="0.05",
            CTSYNC_ALLOW_UNVERIFIED="true",
        )
        with ThreadServer(create_app(settings)) as server:
            body = payloads.created(custom={"fields": {"tier": "gold"}})
            r = httpx.post(f"{server.url}/api/webhook", json=body, timeout=10)
            assert r.json()["status"] == "accepted"
            fake.wait_for(lambda: len(fake.messages) == 1)
    assert fake.messages[0]["traits"] == {
        "email": "jane.doe@example.com",
        "first_name": "Jane",
        "tier": "gold",
    }
