"""Delivery against the fake Segment: shared rate limit, lease recovery, messageIds."""

from __future__ import annotations

import asyncio
import time

from ctsync.delivery import Drainer, DrainerConfig, RetryPolicy
from ctsync.ingress import parse_ct_payload
from ctsync.pipeline import default_planner, record_event
from ctsync.sinks import SegmentSink
from ctsync.store import Store
from ctsync.store._ops import claim, counts
from tests import payloads
from tests.fakes.segment import FakeSegment


def _fill(store: Store, n: int) -> None:
    planner = default_planner()
    for i in range(n):
        event = parse_ct_payload(payloads.created(f"r-{i}", email=f"r{i}@example.com"))
        store.write(
            lambda c, e=event: record_event(c, e, planner=planner, now=time.time(), horizon_s=3600)
        )


def test_the_rate_limit_is_shared_by_every_drainer_of_a_store(store: Store) -> None:
    _fill(store, 60)
    rate = 20.0
    with FakeSegment() as fake:

        async def run() -> None:
            sinks = [
                SegmentSink(write_key=fake.write_key, endpoint=fake.url, timeout_s=5)
                for _ in range(2)
            ]
            drainers = [
                Drainer(store, s, DrainerConfig(batch_size=100, rate_limit=rate)) for s in sinks
            ]
            await asyncio.gather(*(d.drain() for d in drainers))
            for s in sinks:
                await s.aclose()

        asyncio.run(run())
        arrivals = sorted(r.at for r in fake.received)
    assert len(arrivals) == 60
    # a bucket of `rate` tokens refilled at `rate`/s: 40 messages beyond the burst need 2 s
    assert arrivals[-1] - arrivals[0] >= (60 - rate) / rate * 0.9
    for i, start in enumerate(arrivals):
        in_window = sum(1 for t in arrivals[i:] if t - start < 1.0)
        assert in_window <= 2 * rate


def test_a_message_left_by_a_dead_worker_is_sent_with_its_original_id(store: Store) -> None:
    _fill(store, 1)
    now = time.time()
    [orphan] = store.write(lambda c: claim(c, owner="crashed", now=now, lease_s=0.2, limit=5))
    with FakeSegment() as fake:

        async def run() -> None:
            sink = SegmentSink(write_key=fake.write_key, endpoint=fake.url, timeout_s=5)
            drainer = Drainer(store, sink, DrainerConfig(lease_s=5, policy=RetryPolicy()))
            while not fake.messages:
                await drainer.drain()
                await asyncio.sleep(0.05)  # the orphan's lease runs out on the clock
            await sink.aclose()

        asyncio.run(asyncio.wait_for(run(), timeout=20))
        assert fake.message_ids() == [orphan.message_id]
    assert store.read(counts)["messages"] == {"delivered": 1}
