"""The commercetools API client against the emulator: token, reads, id-cursor paging, retries."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from ctsync.commercetools import ApiConfig, CommercetoolsClient, NotFound, RetryOptions
from ctsync.config import Settings
from ctsync.errors import ConfigError, PermanentError, RetryableError
from tests.ctmock import CtMock
from tests.helpers import free_port

T = TypeVar("T")
FAST = RetryOptions(attempts=4, timeout_s=20, wait_initial_s=0.01, wait_max_s=0.05)


@pytest.fixture(scope="module")
def ctmock() -> Iterator[CtMock]:
    with CtMock.started() as mock:
        yield mock


def _config(mock: CtMock) -> ApiConfig:
    return ApiConfig.from_settings(Settings(**mock.env()))  # type: ignore[arg-type]


def _run(mock: CtMock, use: Callable[[CommercetoolsClient], Awaitable[T]], **kw: Any) -> T:
    async def go() -> T:
        async with CommercetoolsClient(_config(mock), retry=FAST, **kw) as client:
            return await use(client)

    return asyncio.run(go())


def test_missing_settings_are_named() -> None:
    with pytest.raises(ConfigError, match="CTP_CLIENT_SECRET, CTP_AUTH_URL, CTP_API_URL"):
        ApiConfig.from_settings(Settings(CTP_PROJECT_KEY="p", CTP_CLIENT_ID="c"))  # type: ignore[call-arg]


def test_reads_a_customer_and_says_when_it_is_gone(ctmock: CtMock) -> None:
    ctmock.new_project()
    created = ctmock.create_customer(email="Ada@Example.com", firstName="Ada")
    got = _run(ctmock, lambda c: c.get_customer(created["id"]))
    assert (got["id"], got["firstName"], got["version"]) == (created["id"], "Ada", 1)
    with pytest.raises(NotFound, match="404"):
        _run(ctmock, lambda c: c.get_customer("no-such-customer"))


def test_pages_every_customer_once_by_ascending_id(ctmock: CtMock) -> None:
    ctmock.new_project()
    ctmock.seed(1234)

    async def scan(client: CommercetoolsClient) -> list[list[str]]:
        return [[c["id"] for c in page] async for page in client.pages("customers", limit=500)]

    pages = _run(ctmock, scan)
    ids = [i for page in pages for i in page]
    assert [len(p) for p in pages] == [500, 500, 234]
    assert ids == sorted(ids)
    assert len(set(ids)) == 1234

    async def rest(client: CommercetoolsClient) -> list[str]:
        after = ids[999]
        return [c["id"] async for page in client.pages("customers", after=after) for c in page]

    assert _run(ctmock, rest) == ids[1000:]


def test_where_narrows_the_scan(ctmock: CtMock) -> None:
    ctmock.new_project()
    ctmock.seed(30)

    async def scan(client: CommercetoolsClient) -> list[str]:
        where = ['email in ("customer3@example.com", "customer17@example.com")']
        return [c["email"] async for page in client.pages("customers", where=where) for c in page]

    assert sorted(_run(ctmock, scan)) == ["customer17@example.com", "customer3@example.com"]


def test_the_emulator_refuses_offset_paging_past_10000(ctmock: CtMock) -> None:
    """What makes the paging test meaningful: a client paging by offset would fail here."""
    ctmock.new_project()

    async def offset_page(client: CommercetoolsClient) -> dict[str, Any]:
        return await client.request("GET", "/customers", params=[("offset", "10001")])

    with pytest.raises(PermanentError, match="HTTP 400"):
        _run(ctmock, offset_page)


def test_transient_failures_are_retried(ctmock: CtMock) -> None:
    ctmock.new_project()
    created = ctmock.create_customer(email="grace@example.com")
    ctmock.fail(503, times=2)
    ctmock.fail(429, retry_after=0)
    assert _run(ctmock, lambda c: c.get_customer(created["id"]))["id"] == created["id"]
    ctmock.fail(502, times=FAST.attempts)
    with pytest.raises(RetryableError, match="HTTP 502"):
        _run(ctmock, lambda c: c.get_customer(created["id"]))


def test_token_is_cached_and_fetched_again_on_401_and_before_expiry(ctmock: CtMock) -> None:
    ctmock.new_project()
    created = ctmock.create_customer(email="token@example.com")
    now = [0.0]

    async def reads(client: CommercetoolsClient) -> None:
        for _ in range(3):
            await client.get_customer(created["id"])
        ctmock.fail(401)  # the token was revoked: one new token, the call succeeds
        await client.get_customer(created["id"])
        now[0] += 172800  # the emulator's tokens last 48 h
        await client.get_customer(created["id"])

    before = ctmock.stats()["tokens"]
    _run(ctmock, reads, clock=lambda: now[0])
    assert ctmock.stats()["tokens"] - before == 3


def test_network_errors_are_retryable() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = ApiConfig("p", "c", "s", auth_url=url, api_url=url)

    async def go() -> None:
        async with CommercetoolsClient(config, retry=FAST) as client:
            await client.get_customer("x")

    with pytest.raises(RetryableError, match="network error"):
        asyncio.run(go())
