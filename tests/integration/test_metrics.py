"""Prometheus metrics and retention, read as a scraper and an operator would.

Counters live in the process-wide registry, so each test compares before and after.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ctsync.config import Settings
from ctsync.service import Runtime
from ctsync.store import open_store
from ctsync.web import create_app
from tests import payloads
from tests.fakes.segment import FakeSegment
from tests.helpers import ThreadServer, wait_for

FAST = {
    "CTSYNC_RETRY_BASE_S": "0.02",
    "CTSYNC_RETRY_CAP_S": "0.2",
    "CTSYNC_DRAIN_INTERVAL_S": "0.05",
}


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def fake() -> Iterator[FakeSegment]:
    with FakeSegment() as f:
        yield f


def scrape(server: ThreadServer) -> Samples:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_delivery_metrics(db_url: str, fake: FakeSegment) -> None:
    settings = Settings(
        DATABASE_URL=db_url,
        SEGMENT_ENDPOINT=fake.url,
        SEGMENT_WRITE_KEY=fake.write_key,
        CTSYNC_ALLOW_UNVERIFIED="true",
        **FAST,
    )
    with ThreadServer(create_app(settings)) as server:
        before = scrape(server)
        fake.script([500])
        httpx.post(f"{server.url}/api/webhook", json=payloads.created("c-m1"), timeout=10)
        fake.wait_for(lambda: len(fake.messages) == 1)
        fake.script([400])
        httpx.post(f"{server.url}/api/webhook", json=payloads.created("c-m2"), timeout=10)

        def dead_counted() -> Samples:
            now = scrape(server)
            key = "ctsync_dead_letters_total"
            more = value(now, key, reason="http_400") > value(before, key, reason="http_400")
            # the counter moves as the outcome is settled; the gauge reads the store after
            settled = value(now, "ctsync_outbox_messages", status="pending") == 0
            return now if more and settled else {}

        after = wait_for(dead_counted, what="the dead letter counted")

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("ctsync_events_total", status="accepted", envelope="direct") == 2
    assert delta("ctsync_sink_responses_total", code="500") == 1
    assert delta("ctsync_sink_responses_total", code="200") == 1
    assert delta("ctsync_sink_responses_total", code="400") == 1
    assert delta("ctsync_messages_total", status="retry") == 1
    assert delta("ctsync_messages_total", status="delivered") == 1
    assert delta("ctsync_messages_total", status="dead") == 1
    assert delta("ctsync_dead_letters_total", reason="http_400") == 1
    assert delta("ctsync_delivery_seconds_count") == 1
    assert value(after, "ctsync_outbox_messages", status="pending") == 0
    assert ("ctsync_outbox_oldest_due_seconds", ()) in after


def test_retention_counts_what_it_removed(sqlite_url: str, fake: FakeSegment) -> None:
    settings = Settings(
        DATABASE_URL=sqlite_url,
        SEGMENT_ENDPOINT=fake.url,
        SEGMENT_WRITE_KEY=fake.write_key,
        CTSYNC_ALLOW_UNVERIFIED="true",
        CTSYNC_RETENTION_DAYS="0.00001",  # under a second
        **FAST,
    )
    rt = Runtime.open(settings)
    with ThreadServer(create_app(settings, runtime=rt)) as server:
        before = scrape(server)
        httpx.post(f"{server.url}/api/webhook", json=payloads.created("c-old"), timeout=10)
        fake.wait_for(lambda: len(fake.messages) == 1)
        wait_for(lambda: rt.purge_expired()["messages"], what="the delivered message purged")
        page = httpx.get(f"{server.url}/admin/", timeout=10).text
        assert "1e-05 days" in page
        assert "messages 1" in page
        after = scrape(server)
    purged = ("ctsync_retention_purged_total", (("kind", "messages"),))
    assert after[purged] - before.get(purged, 0.0) == 1
    assert rt.purged["messages"] == 1
    rt.store.close()


def test_backfill_progress_on_the_overview_and_in_metrics(db_url: str) -> None:
    settings = Settings(DATABASE_URL=db_url, CTSYNC_ALLOW_UNVERIFIED="true")
    with ThreadServer(create_app(settings)) as server:
        page = httpx.get(f"{server.url}/admin/", timeout=10).text
        assert "No backfill has run" in page
        store = open_store(db_url)
        now = time.time()
        store.write(
            lambda c: c.run(
                "backfill_begin",
                name="customers",
                resource="customer",
                project_key="shop-test",
                filters="{}",
                total=250,
                now=now,
                restart=0,
            )
        )
        store.write(
            lambda c: c.run(
                "backfill_page",
                name="customers",
                stream=0,
                after="c-99",
                processed=100,
                total=None,
                now=now,
            )
        )
        store.write(  # what the delivery side queued from its pages so far
            lambda c: c.run("staged_page_queued", name="customers", queued=90, now=now)
        )
        store.write(  # a page read and not yet queued (the delivery side queues it)
            lambda c: c.run(
                "stage_page",
                backfill="customers",
                project_key="shop-test",
                resource="customers",
                body='{"results": []}',
                size=10,
                now=now + 3600,  # not due yet: the server's queue loop leaves it
            )
        )
        store.close()
        page = httpx.get(f"{server.url}/admin/", timeout=10).text
        assert 'data-testid="backfill-processed">100 of 250<' in page
        assert 'data-testid="backfill-staged">10<' in page
        samples = scrape(server)
    labels = (("name", "customers"), ("resource", "customer"), ("status", "running"))
    assert samples[("ctsync_backfill_processed", labels)] == 100
    staged = (("name", "customers"), ("what", "resources"))
    assert samples[("ctsync_backfill_staged", staged)] == 10
