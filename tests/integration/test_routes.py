"""Routes and lanes: each workspace gets what its route says; a failing one delays no other."""

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
from tests.fakes.segment import FakeSegment
from tests.helpers import ROOT, ThreadServer, wait_for

FAST = {
    "CTSYNC_RETRY_BASE_S": "0.05",
    "CTSYNC_RETRY_CAP_S": "0.2",
    "CTSYNC_DRAIN_INTERVAL_S": "0.05",
}


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeSegment]]:
    with FakeSegment("key-a") as a, FakeSegment("key-b") as b, FakeSegment("key-c") as c:
        yield {"a": a, "b": b, "default": c}


def _serve(db_url: str, tmp_path: Path, mapping: str, default: FakeSegment | None) -> ThreadServer:
    path = tmp_path / "mapping.yaml"
    path.write_text(mapping)
    env: dict[str, Any] = {"DATABASE_URL": db_url, "CTSYNC_MAPPING": str(path), **FAST}
    env["CTSYNC_ALLOW_UNVERIFIED"] = "true"  # a local trial: posts without credentials
    env["SEGMENT_WRITE_KEY"] = default.write_key if default else ""
    if default:
        env["SEGMENT_ENDPOINT"] = default.url
    return ThreadServer(create_app(Settings(**env)))


def _destinations(fakes: dict[str, FakeSegment]) -> str:
    return (
        "destinations:\n"
        f"  a: {{write_key_env: CTSYNC_TEST_KEY_A, endpoint: '{fakes['a'].url}'}}\n"
        f"  b: {{write_key_env: CTSYNC_TEST_KEY_B, endpoint: '{fakes['b'].url}',"
        " rate_limit: 500}\n"
    )


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTSYNC_TEST_KEY_A", "key-a")
    monkeypatch.setenv("CTSYNC_TEST_KEY_B", "key-b")


def post(server: ThreadServer, body: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(f"{server.url}/api/webhook", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _user_ids(fake: FakeSegment) -> set[str]:
    return {m["userId"] for m in fake.messages}


def test_a_failing_destination_delays_no_other(
    db_url: str, tmp_path: Path, fakes: dict[str, FakeSegment]
) -> None:
    mapping = "version: routes-1\n" + _destinations(fakes)
    mapping += "routes:\n  - project: shop-test\n    to: [a, b]\n"
    fakes["a"].chaos(p5xx=1.0)  # workspace a answers 5xx to everything
    with _serve(db_url, tmp_path, mapping, None) as server:
        for i in range(20):
            post(server, payloads.created(f"c-{i}", email=f"u{i}@example.com"))
        fakes["b"].wait_for(lambda: len(_user_ids(fakes["b"])) == 20, timeout=15)
        # b has everything while a has failed every attempt and delivered nothing
        assert fakes["a"].messages == []
        assert fakes["a"].stats()["requests"] >= 1
        fakes["a"].chaos()
        fakes["a"].wait_for(lambda: len(_user_ids(fakes["a"])) == 20, timeout=15)
    a_ids, b_ids = set(fakes["a"].message_ids()), set(fakes["b"].message_ids())
    assert len(b_ids) == 20
    assert not a_ids & b_ids  # Segment deduplicates across workspaces: each gets its own ids
    assert fakes["default"].messages == []


def _in(project: str, body: dict[str, Any]) -> dict[str, Any]:
    body["projectKey"] = project
    return body


def test_each_workspace_receives_what_its_route_says(
    db_url: str, tmp_path: Path, fakes: dict[str, FakeSegment]
) -> None:
    mapping = "version: routes-2\n" + _destinations(fakes)
    mapping += (
        "routes:\n"
        "  - {project: shop-a, to: [a]}\n"
        "  - {project: shop-b, store: berlin, to: [b, default]}\n"
        "  - {project: shop-b, to: [default]}\n"
    )
    berlin = [{"typeId": "store", "key": "berlin"}]
    with _serve(db_url, tmp_path, mapping, fakes["default"]) as server:
        post(server, _in("shop-a", payloads.created("c-1", email="a1@example.com")))
        post(server, _in("shop-b", payloads.created("c-2", email="b2@example.com", stores=berlin)))
        post(server, _in("shop-b", payloads.created("c-3", email="b3@example.com")))
        post(server, _in("shop-c", payloads.created("c-4", email="c4@example.com")))
        fakes["default"].wait_for(lambda: len(fakes["default"].messages) >= 3)
        fakes["a"].wait_for(lambda: len(fakes["a"].messages) >= 1)
        fakes["b"].wait_for(lambda: len(fakes["b"].messages) >= 1)
    assert _user_ids(fakes["a"]) == {"a1@example.com"}
    assert _user_ids(fakes["b"]) == {"b2@example.com"}
    assert _user_ids(fakes["default"]) == {"b2@example.com", "b3@example.com", "c4@example.com"}
    assert len(fakes["default"].messages) == 3


def test_routes_naming_unknown_destinations_or_inline_keys_are_refused(tmp_path: Path) -> None:
    from ctsync.mapping.file import MappingFileError, parse_mapping

    text = (
        "version: 1\n"
        "destinations:\n"
        "  eu: {write_key: abc123}\n"
        "  us: {type: carrier-pigeon}\n"
        "routes:\n"
        "  - {project: shop, to: [nowhere]}\n"
    )
    with pytest.raises(MappingFileError) as caught:
        parse_mapping(text, "m.yaml")
    problems = "\n".join(caught.value.problems)
    assert "destinations.eu (line 3): never write a key in the file" in problems
    assert "abc123" not in problems
    assert "destinations.us.type (line 4): unknown sink type 'carrier-pigeon'" in problems
    assert "routes.0.to (line 6): 'nowhere' is not a destination" in problems


def test_a_missing_key_variable_stops_start_up(
    db_url: str, tmp_path: Path, fakes: dict[str, FakeSegment], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ctsync.errors import ConfigError
    from ctsync.service import Runtime

    monkeypatch.delenv("CTSYNC_TEST_KEY_A")
    path = tmp_path / "mapping.yaml"
    path.write_text("version: 1\n" + _destinations(fakes))
    settings = Settings(DATABASE_URL=db_url, CTSYNC_MAPPING=str(path))  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="CTSYNC_TEST_KEY_A is not set"):
        Runtime.open(settings)


def _install_example_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `pip install ./examples/plugins` does for discovery: a dist-info on sys.path."""
    site = tmp_path / "site"
    info = site / "ctsync_example_plugins-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ctsync-example-plugins\n")
    (info / "entry_points.txt").write_text(
        "[ctsync.sinks]\njsonl = ctsync_example_plugins:make_jsonl_sink\n\n"
        "[ctsync.transforms]\ntag_source = ctsync_example_plugins:tag_source\n"
        "skip_test_accounts = ctsync_example_plugins:skip_test_accounts\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "plugins"))


def test_a_sink_and_transforms_from_entry_points(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_example_plugins(tmp_path, monkeypatch)
    archive = tmp_path / "archive.jsonl"
    mapping = (
        "version: plugins-1\n"
        "destinations:\n"
        f"  archive: {{type: jsonl, endpoint: '{archive.as_uri()}'}}\n"
        "routes:\n  - {project: shop-test, to: [archive]}\n"
        "transforms: [tag_source, skip_test_accounts]\n"
    )
    with _serve(db_url, tmp_path, mapping, None) as server:
        post(server, payloads.created("c-1", email="jane@example.com"))
        skipped = post(server, payloads.created("c-2", email="qa@example.test"))
        assert skipped["status"] == "ignored"
        wait_for(lambda: archive.exists() and archive.read_text().count("\n") == 1, what="archive")
        [line] = archive.read_text().splitlines()
    message = json.loads(line)
    assert message["userId"] == "jane@example.com"
    assert message["context"]["source"] == {"name": "commercetools", "via": "ctsync"}


def test_an_unknown_transform_is_refused_naming_it() -> None:
    from ctsync.mapping.file import MappingFileError, parse_mapping

    with pytest.raises(MappingFileError, match=r"transforms \(line 2\): .*shout"):
        parse_mapping("version: 1\ntransforms: [shout]\n", "m.yaml")
