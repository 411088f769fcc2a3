"""Reads on demand against the emulator: notifications without data become full Identifies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from ctsync.commercetools import CommercetoolsClient, RetryOptions
from ctsync.config import Settings
from ctsync.ingress import parse_ct_payload
from ctsync.mapping import plan_customer_read
from ctsync.pipeline import RecordResult
from ctsync.service import Runtime
from ctsync.web import create_app
from tests import payloads
from tests.ctmock import CtMock
from tests.fakes.segment import FakeSegment
from tests.helpers import ThreadServer, wait_for

FAST = RetryOptions(attempts=2, timeout_s=5, wait_initial_s=0.01, wait_max_s=0.02)


@pytest.fixture(scope="module")
def ctmock() -> Iterator[CtMock]:
    with CtMock.started() as mock:
        yield mock


@pytest.fixture
def fake() -> Iterator[FakeSegment]:
    with FakeSegment() as f:
        yield f


def _settings(mock: CtMock, db_url: str, fake: FakeSegment, **extra: str) -> Settings:
    env = {
        **mock.env(),
        "DATABASE_URL": db_url,
        "SEGMENT_WRITE_KEY": fake.write_key,
        "SEGMENT_ENDPOINT": fake.url,
        "CTSYNC_FETCH_SETTLE_S": "0",
        "CTSYNC_ALLOW_UNVERIFIED": "true",  # posts and cron drains without credentials
        **extra,
    }
    return Settings(**env)  # type: ignore[arg-type]


@pytest.fixture
def settings(ctmock: CtMock, db_url: str, fake: FakeSegment) -> Settings:
    ctmock.new_project()
    return _settings(ctmock, db_url, fake)


def _run(settings: Settings, body: Callable[[Runtime], Awaitable[None]]) -> None:
    """One event loop for the whole test: the runtime's HTTP clients belong to it."""

    async def go() -> None:
        rt = Runtime.open(settings)
        try:
            await body(rt)
        finally:
            await rt.aclose()

    asyncio.run(go())


def _in_project(payload: dict[str, Any], mock: CtMock) -> dict[str, Any]:
    return {**payload, "projectKey": mock.project_key}


async def _resolve_and_deliver(rt: Runtime) -> dict[str, Any]:
    reads = await rt.read_due()
    await rt.drainer.drain()
    return reads or {}


def _event(rt: Runtime, event_id: int | None) -> dict[str, Any]:
    row = rt.store.read(lambda c: c.one("get_event", id=event_id))
    assert row is not None
    return row


def _customer_v2(mock: CtMock) -> dict[str, Any]:
    created = mock.create_customer(email="Ada.Lovelace@Example.com", firstName="Ada")
    return mock.update_customer(
        created, {"action": "setLastName", "lastName": "Lovelace"}
    )  # version 2


def _expected_identify(mock: CtMock, customer: dict[str, Any]) -> dict[str, Any]:
    plan = plan_customer_read(mock.project_key, customer, None)
    return plan.messages[0].body


async def _record(rt: Runtime, payload: dict[str, Any], mock: CtMock) -> RecordResult:
    return await rt.record(parse_ct_payload(_in_project(payload, mock)))


@pytest.mark.parametrize("shape", ["change notification", "payloadNotIncluded message"])
def test_a_notification_without_data_becomes_the_full_identify(
    ctmock: CtMock, settings: Settings, fake: FakeSegment, shape: str
) -> None:
    customer = _customer_v2(ctmock)
    if shape == "change notification":
        payload = payloads.change("ResourceUpdated", customer["id"], version=2)
    else:
        payload = payloads.message("CustomerLastNameSet", customer["id"], version=2)
        payload["payloadNotIncluded"] = {"reason": "Payload too large", "payloadType": "x"}

    async def body(rt: Runtime) -> None:
        recorded = await _record(rt, payload, ctmock)
        assert recorded.status == "fetching"
        assert fake.messages == []  # nothing read inside the webhook's answer
        reads = await _resolve_and_deliver(rt)
        assert reads["read"] == 1
        assert _event(rt, recorded.event_id)["status"] == "accepted"

    _run(settings, body)
    [sent] = fake.messages
    expected = _expected_identify(ctmock, customer)
    assert sent["messageId"] == expected["messageId"]
    assert sent["userId"] == "ada.lovelace@example.com"
    assert sent["traits"]["firstName"] == "Ada"
    assert sent["traits"]["lastName"] == "Lovelace"
    assert sent["traits"]["name"] == "Ada Lovelace"
    assert sent["timestamp"] == customer["lastModifiedAt"]


def test_messages_and_changes_send_each_change_once(
    ctmock: CtMock, settings: Settings, fake: FakeSegment
) -> None:
    customer = _customer_v2(ctmock)
    cid = customer["id"]
    created = payloads.message(
        "CustomerCreated", cid, version=1, customer={**customer, "version": 1}
    )
    last_name = payloads.message("CustomerLastNameSet", cid, version=2, lastName="Lovelace")
    change = payloads.change("ResourceUpdated", cid, version=2)

    async def body(rt: Runtime) -> None:
        for payload in (created, change, last_name):  # the change may come before its message
            await _record(rt, payload, ctmock)
        reads = await _resolve_and_deliver(rt)
        assert (reads["covered"], reads["read"]) == (1, 0)

    _run(settings, body)
    sent = fake.messages
    assert [m["type"] for m in sent] == ["identify", "identify"]
    assert sent[1]["traits"] == {"lastName": "Lovelace", "name": "Ada Lovelace"}
    assert len({m["messageId"] for m in sent}) == 2


def test_a_change_notification_waits_for_its_messages_before_reading(
    ctmock: CtMock, db_url: str, fake: FakeSegment
) -> None:
    ctmock.new_project()
    customer = _customer_v2(ctmock)

    async def body(rt: Runtime) -> None:
        await _record(rt, payloads.change("ResourceUpdated", customer["id"]), ctmock)
        assert (await _resolve_and_deliver(rt))["claimed"] == 0

    _run(_settings(ctmock, db_url, fake, CTSYNC_FETCH_SETTLE_S="600"), body)


def test_a_customer_gone_is_failed_with_its_reason_once(
    ctmock: CtMock, settings: Settings, fake: FakeSegment
) -> None:
    async def body(rt: Runtime) -> None:
        recorded = await _record(rt, payloads.change("ResourceUpdated", "gone-1"), ctmock)
        assert (await _resolve_and_deliver(rt))["gone"] == 1
        event = _event(rt, recorded.event_id)
        assert event["status"] == "failed"
        assert "no longer exists" in event["reason"]
        assert "404" in event["reason"]
        assert (await _resolve_and_deliver(rt))["claimed"] == 0

    _run(settings, body)
    assert fake.messages == []


def test_a_waiting_delta_is_resolved_by_a_read(
    ctmock: CtMock, settings: Settings, fake: FakeSegment
) -> None:
    customer = _customer_v2(ctmock)
    delta = payloads.message("CustomerLastNameSet", customer["id"], version=2, lastName="Lovelace")

    async def body(rt: Runtime) -> None:
        recorded = await _record(rt, delta, ctmock)
        assert recorded.status == "waiting"
        assert (await _resolve_and_deliver(rt))["read"] == 1
        assert _event(rt, recorded.event_id)["status"] != "waiting"

    _run(settings, body)
    first = fake.messages[0]
    assert first["messageId"] == _expected_identify(ctmock, customer)["messageId"]
    assert first["userId"] == "ada.lovelace@example.com"


def test_a_transient_api_failure_is_retried_later(
    ctmock: CtMock, settings: Settings, fake: FakeSegment
) -> None:
    customer = _customer_v2(ctmock)

    async def body(rt: Runtime) -> None:
        assert rt.fetcher is not None
        await rt.fetcher.client.aclose()
        config = rt.fetcher.client.config
        rt.fetcher.client = CommercetoolsClient(config, retry=FAST)  # not a minute of backoff
        recorded = await _record(rt, payloads.change("ResourceUpdated", customer["id"]), ctmock)
        ctmock.fail(503, times=100)
        try:
            assert (await _resolve_and_deliver(rt))["retried"] == 1
        finally:
            ctmock.fail(200, times=0, clear=True)
        event = _event(rt, recorded.event_id)
        assert event["status"] == "fetching"  # kept for a later read, not failed

    _run(settings, body)
    assert fake.messages == []


def test_serve_reads_in_the_background_after_answering_the_webhook(
    ctmock: CtMock, settings: Settings, fake: FakeSegment
) -> None:
    customer = _customer_v2(ctmock)
    change = _in_project(payloads.change("ResourceUpdated", customer["id"], version=2), ctmock)
    with ThreadServer(create_app(settings)) as server:
        answer = httpx.post(f"{server.url}/api/webhook", json=change, timeout=10)
        assert answer.status_code == 200
        assert answer.json()["status"] == "fetching"
        wait_for(lambda: fake.messages, 20, "the Identify of the read customer")
    [sent] = fake.messages
    assert sent["messageId"] == _expected_identify(ctmock, customer)["messageId"]


def test_the_cron_drain_reads_then_delivers_on_serverless(
    ctmock: CtMock, db_url: str, fake: FakeSegment
) -> None:
    ctmock.new_project()
    settings = _settings(ctmock, db_url, fake, CTSYNC_INLINE_DELIVERY="true")
    customer = _customer_v2(ctmock)
    change = _in_project(payloads.change("ResourceUpdated", customer["id"], version=2), ctmock)
    with ThreadServer(create_app(settings)) as server:
        assert httpx.post(f"{server.url}/api/webhook", json=change).json()["status"] == "fetching"
        assert fake.messages == []  # no background task on serverless
        drained = httpx.get(f"{server.url}/api/cron/drain", timeout=30).json()
    assert drained["reads"]["read"] == 1
    [sent] = fake.messages
    assert sent["messageId"] == _expected_identify(ctmock, customer)["messageId"]


def test_an_event_of_another_project_is_not_read_with_this_projects_client(
    ctmock: CtMock, settings: Settings, fake: FakeSegment
) -> None:
    async def body(rt: Runtime) -> None:
        other = {**payloads.change("ResourceUpdated", "c-9"), "projectKey": "another-project"}
        recorded = await rt.record(parse_ct_payload(other))
        assert (await _resolve_and_deliver(rt))["failed"] == 1
        event = _event(rt, recorded.event_id)
        assert event["status"] == "failed"
        assert "CTP_PROJECT_KEY" in event["reason"]

    _run(settings, body)
    assert fake.messages == []
