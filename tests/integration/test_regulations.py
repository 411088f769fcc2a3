"""CustomerDeleted -> a Segment deletion regulation through the Public API, followed to the end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ctsync.config import Settings
from ctsync.web import create_app
from tests import payloads
from tests.fakes.segment_public_api import FakePublicApi
from tests.helpers import ThreadServer, wait_for


@pytest.fixture
def public_api() -> Iterator[tuple[FakePublicApi, ThreadServer]]:
    fake = FakePublicApi()
    with ThreadServer(fake.app()) as server:
        yield fake, server


def _serve(db_url: str, api_url: str | None, token: str = "public-api-token") -> ThreadServer:
    env: dict[str, Any] = {
        "DATABASE_URL": db_url,
        "SEGMENT_WRITE_KEY": "",
        "CTSYNC_REGULATION_POLL_S": "0.05",
        "CTSYNC_DRAIN_INTERVAL_S": "0.05",
        "CTSYNC_ALLOW_UNVERIFIED": "true",  # a local trial: posts without credentials
    }
    if api_url:
        env |= {
            "SEGMENT_PUBLIC_API_URL": api_url,
            "SEGMENT_PUBLIC_API_TOKEN": token,
            "SEGMENT_WORKSPACE": "acme",
        }
    return ThreadServer(create_app(Settings(**env)))


def _regulations(server: ThreadServer) -> dict[str, Any]:
    return dict(httpx.get(f"{server.url}/api/admin/regulations", timeout=10).json())


def _statuses(server: ThreadServer) -> list[str]:
    return [r["status"] for r in _regulations(server)["regulations"]]


def _delete(server: ThreadServer) -> None:
    for body in (
        payloads.created("c-1", email="Gone@Example.com"),
        payloads.message("CustomerDeleted", "c-1", version=3),
    ):
        r = httpx.post(f"{server.url}/api/webhook", json=body, timeout=10)
        assert r.json()["status"] == "accepted", r.text


def test_a_deleted_customer_gets_a_regulation_polled_to_finished(
    db_url: str, public_api: tuple[FakePublicApi, ThreadServer]
) -> None:
    fake, api = public_api
    fake.fail_next = 1  # the first call meets a 503: retried, not lost
    with _serve(db_url, api.url) as server:
        _delete(server)
        wait_for(lambda: _statuses(server) == ["FINISHED"], what="the regulation to finish")
        [row] = _regulations(server)["regulations"]
    [regulation] = fake.regulations.values()
    assert regulation.body == {
        "regulationType": "SUPPRESS_WITH_DELETE",
        "subjectType": "USER_ID",
        "subjectIds": ["gone@example.com"],
    }
    assert row["regulate_id"] == regulation.id
    assert regulation.polls >= 3  # INITIALIZED, RUNNING, FINISHED: followed to the end


def test_a_refused_token_is_shown_not_retried_for_ever(
    db_url: str, public_api: tuple[FakePublicApi, ThreadServer]
) -> None:
    _, api = public_api
    with _serve(db_url, api.url, token="wrong") as server:
        _delete(server)
        wait_for(lambda: _statuses(server) == ["refused"], what="the refusal")
        [row] = _regulations(server)["regulations"]
    assert "HTTP 401" in row["detail"]
    assert "wrong" not in row["detail"]


def test_without_a_token_no_regulation_is_requested(db_url: str) -> None:
    with _serve(db_url, None) as server:
        _delete(server)
        answer = _regulations(server)
    assert answer["enabled"] is False
    assert answer["regulations"] == []
