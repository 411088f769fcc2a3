"""Delivery never parks or loops: Retry-After bounds, odd sinks, leases, rejected keys."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import httpx
import pytest

from ctsync.config import Settings
from ctsync.delivery import Drainer, DrainerConfig, RetryPolicy
from ctsync.errors import RetryableError
from ctsync.ingress import parse_ct_payload
from ctsync.pipeline import default_planner, record_event
from ctsync.sinks import SegmentSink
from ctsync.sinks._base import SinkResult
from ctsync.store import Store
from ctsync.store._ops import counts, event_detail, replay
from ctsync.web import create_app
from tests import payloads
from tests.fakes.segment import Answer, FakeSegment
from tests.helpers import ThreadServer, wait_for

FAST = RetryPolicy(base_s=0.02, cap_s=0.3)


def _fill(store: Store, n: int = 1) -> None:
    planner = default_planner()
    for i in range(n):
        event = parse_ct_payload(payloads.created(f"p-{i}", email=f"p{i}@example.com"))
        store.write(
            lambda c, e=event: record_event(c, e, planner=planner, now=time.time(), horizon_s=3600)
        )


async def _drain_until(drainer: Drainer, done: object, within_s: float = 20) -> None:
    async def loop() -> None:
        while not done():  # type: ignore[operator]
            await drainer.drain()
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), within_s)


@pytest.mark.parametrize(
    "header", ["1000000000", "inf", "nan", "Fri, 31 Dec 9999 23:59:59 GMT", "soon", "-5"]
)
def test_an_absurd_retry_after_is_capped_and_the_message_still_arrives(
    store: Store, header: str
) -> None:
    """A drainer never pauses past the retry cap, and never leaves a batch unsettled."""
    _fill(store)
    with FakeSegment() as fake:
        fake.script([Answer(429, retry_after=header), Answer(503, retry_after=header)])

        async def run() -> None:
            sink = SegmentSink(write_key=fake.write_key, endpoint=fake.url, timeout_s=5)
            drainer = Drainer(store, sink, DrainerConfig(policy=FAST))
            await _drain_until(drainer, lambda: fake.messages)
            await sink.aclose()

        asyncio.run(run())
        assert len(fake.messages) == 1
    assert store.read(counts)["messages"] == {"delivered": 1}


class _Sink:
    """A sink at the seam, for failures no HTTP server can make (a bug in a sink)."""

    name = "odd"

    def __init__(self, *, fail_first: int = 0, delay_s: float = 0.0) -> None:
        self.fail_first = fail_first
        self.delay_s = delay_s
        self.sent: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.sending = asyncio.Event()

    async def send(self, batch: Sequence[str]) -> SinkResult:
        self.in_flight += 1
        self.sending.set()
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
            if self.fail_first > 0:
                self.fail_first -= 1
                raise OverflowError("date value out of range")
            self.sent.extend(batch)
            return SinkResult(status_code=200, latency_ms=1.0, response="ok")
        finally:
            self.in_flight -= 1

    async def probe(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def test_an_unexpected_error_in_a_sink_settles_the_batch_as_retryable(store: Store) -> None:
    _fill(store)
    sink = _Sink(fail_first=1)
    drainer = Drainer(store, sink, DrainerConfig(policy=FAST))  # type: ignore[arg-type]
    report = asyncio.run(drainer.drain_once())  # one claim: its retry may be due at once
    assert report.retried == 1
    assert store.read(counts)["messages"] == {"pending": 1}
    detail = store.read(lambda c: event_detail(c, 1))
    assert detail is not None
    [attempt] = detail["messages"][0]["attempts_log"]
    assert "OverflowError" in attempt["detail"]
    asyncio.run(_drain_until(drainer, lambda: sink.sent))
    assert store.read(counts)["messages"] == {"delivered": 1}


def test_a_sink_slower_than_the_lease_is_never_sent_twice_at_once(store: Store) -> None:
    """Two drainers on one store; each send takes three leases: the lease is renewed."""
    _fill(store, 3)
    sink = _Sink(delay_s=1.5)
    config = DrainerConfig(lease_s=0.5, batch_size=10, linger_s=0, policy=FAST)
    drainers = [Drainer(store, sink, config) for _ in range(2)]  # type: ignore[arg-type]

    async def run() -> None:
        first = asyncio.create_task(drainers[0].drain())
        await sink.sending.wait()  # the first drainer has claimed and is sending
        # the other drainer keeps claiming while the first send is in flight, long past
        # the lease it was claimed with: nothing may be claimed (and sent) a second time
        while not first.done():
            await drainers[1].drain()
            await asyncio.sleep(0.05)
        await first

    asyncio.run(asyncio.wait_for(run(), 30))
    assert sorted(sink.sent) == sorted(set(sink.sent)), "a message was sent twice"
    assert len(sink.sent) == 3
    assert store.read(counts)["messages"] == {"delivered": 3}


def test_a_sink_timeout_longer_than_the_lease_is_refused() -> None:
    with pytest.raises(ValueError, match="CTSYNC_SINK_TIMEOUT_S"):
        Settings(CTSYNC_LEASE_S="5", CTSYNC_SINK_TIMEOUT_S="10")


def test_a_rejected_write_key_is_retried_and_reported_never_dead_lettered(
    db_url: str,
) -> None:
    with FakeSegment() as fake:
        settings = Settings(
            DATABASE_URL=db_url,
            SEGMENT_ENDPOINT=fake.url,
            SEGMENT_WRITE_KEY="rotated-key",  # the fake only knows fake.write_key
            CTSYNC_RETRY_BASE_S="0.02",
            CTSYNC_RETRY_CAP_S="0.1",
            CTSYNC_DRAIN_INTERVAL_S="0.05",
            CTSYNC_ALLOW_UNVERIFIED="true",
            CTSYNC_ADMIN_TOKEN="admin-token",
        )
        with ThreadServer(create_app(settings)) as server:
            for i in range(5):
                body = payloads.created(f"k-{i}", email=f"k{i}@example.com")
                r = httpx.post(f"{server.url}/api/webhook", json=body, timeout=10)
                assert r.json()["status"] == "accepted"
            wait_for(lambda: len(fake.requests) >= 6, what="several rejected attempts")
            ready = httpx.get(f"{server.url}/api/ready", timeout=10)
            metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
            stats = httpx.get(
                f"{server.url}/api/admin/stats",
                headers={"Authorization": "Bearer admin-token"},
                timeout=10,
            ).json()
        assert fake.messages == []
    assert ready.status_code == 200, "a rejected key must not make the replica unready"
    state = ready.json()["sinkState"]
    assert state["keyRejected"] is True
    assert "SEGMENT_WRITE_KEY" in state["warning"]
    assert "ctsync_sink_key_rejected 1.0" in metrics
    assert "dead" not in str(stats.get("messages", {})), stats


def test_readiness_is_the_store_not_the_sink(sqlite_url: str) -> None:
    settings = Settings(
        DATABASE_URL=sqlite_url,
        SEGMENT_ENDPOINT="http://127.0.0.1:9",  # nothing listens there
        SEGMENT_WRITE_KEY="k",
        CTSYNC_ALLOW_UNVERIFIED="true",
    )
    with ThreadServer(create_app(settings)) as server:
        ready = httpx.get(f"{server.url}/api/ready", timeout=10)
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert ready.status_code == 200
    assert ready.json()["sinkState"]["reachable"] is False
    assert "ctsync_sink_reachable 0.0" in metrics


def test_a_nul_in_a_successful_answer_does_not_loop(store: Store) -> None:
    _fill(store)
    with FakeSegment() as fake:
        fake.script([Answer(200, body=b'{"success":true,"note":"\x00"}')])

        async def run() -> None:
            sink = SegmentSink(write_key=fake.write_key, endpoint=fake.url, timeout_s=5)
            drainer = Drainer(store, sink, DrainerConfig(policy=FAST))
            await drainer.drain()
            await sink.aclose()

        asyncio.run(run())
        assert len(fake.messages) == 1
    assert store.read(counts)["messages"] == {"delivered": 1}


def test_replay_resets_the_attempt_count(store: Store) -> None:
    _fill(store)
    with FakeSegment() as fake:
        fake.script([400, 400])

        async def run() -> None:
            sink = SegmentSink(write_key=fake.write_key, endpoint=fake.url, timeout_s=5)
            drainer = Drainer(store, sink, DrainerConfig(policy=FAST))
            await drainer.drain()
            assert store.read(counts)["messages"] == {"dead": 1}
            assert store.write(lambda c: replay(c, ids=None, now=time.time(), horizon_s=60)) == 1
            detail = store.read(lambda c: event_detail(c, 1))
            assert detail is not None
            assert detail["messages"][0]["attempts"] == 0
            await sink.aclose()

        asyncio.run(run())


def test_retryable_error_carries_no_unbounded_wait() -> None:
    """The policy honours Retry-After up to the cap, whatever the header said."""
    policy = RetryPolicy(base_s=1, cap_s=60)
    decision = policy.decide(failures=1, now=0, deadline=10**6, retry_after=float("inf"))
    assert decision.at is not None
    assert decision.at <= 60
    assert RetryableError("x", retry_after=None).retry_after is None


def test_a_deletion_tombstone_outlives_retention_so_a_late_snapshot_stays_stale(
    store: Store,
) -> None:
    from ctsync.store._ops import purge

    planner = default_planner()

    def record(body: dict[str, object]) -> str:
        event = parse_ct_payload(body)
        result = store.write(
            lambda c: record_event(c, event, planner=planner, now=time.time(), horizon_s=3600)
        )
        return str(result.status)

    assert record(payloads.created("gone", version=1)) == "accepted"
    assert record(payloads.message("CustomerDeleted", "gone", version=2)) == "accepted"
    sink = _Sink()
    asyncio.run(Drainer(store, sink, DrainerConfig(policy=FAST)).drain())  # type: ignore[arg-type]
    assert len(sink.sent) == 2
    # the hourly purge, with 30 days of retention: the fresh tombstone stays
    store.write(lambda c: purge(c, before=time.time() - 30 * 86400))
    # a redelivery of the old CustomerCreated (a new delivery id) comes in late
    assert record(payloads.created("gone", version=1)) == "stale"
