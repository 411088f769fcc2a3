"""Orders end to end: a commercetools delivery reaches the fake Segment as Order Completed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from ctsync.config import Settings
from ctsync.web import create_app
from tests import payloads
from tests.fakes.segment import FakeSegment
from tests.helpers import ThreadServer
from tests.order_payloads import line_item, order_created, order_message


@pytest.fixture
def fake() -> Iterator[FakeSegment]:
    with FakeSegment() as f:
        yield f


@pytest.fixture
def server(db_url: str, fake: FakeSegment) -> Iterator[ThreadServer]:
    settings = Settings(
        DATABASE_URL=db_url,  # type: ignore[call-arg]
        SEGMENT_ENDPOINT=fake.url,
        SEGMENT_WRITE_KEY=fake.write_key,
        CTSYNC_DRAIN_INTERVAL_S="0.05",
        CTSYNC_ALLOW_UNVERIFIED="true",
    )
    with ThreadServer(create_app(settings)) as s:
        yield s


def post(server: ThreadServer, body: Any) -> dict[str, Any]:
    r = httpx.post(
        f"{server.url}/api/webhook",
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _tracks(fake: FakeSegment, event: str) -> list[dict[str, Any]]:
    return [m for m in fake.messages if m.get("type") == "track" and m.get("event") == event]


def test_order_created_arrives_as_order_completed_with_exact_money(
    server: ThreadServer, fake: FakeSegment
) -> None:
    delivery = order_created(
        "o-1",
        items=[line_item("SKU-1", 1999, 1), line_item("SKU-2", 1001, 2)],
        shipping=499,
        tax=642,
    )
    answer = post(server, delivery)
    assert answer["status"] == "accepted"
    fake.wait_for(lambda: len(_tracks(fake, "Order Completed")) == 1)
    [track] = _tracks(fake, "Order Completed")
    props = track["properties"]
    assert track["userId"] == "jane.doe@example.com"
    assert track["messageId"] == answer["messageIds"][0]
    # 1999 + 2 x 1001 + 499 = 4500 cents; the tax is part of the gross total
    assert props["total"] == 45
    assert props["shipping"] == 4.99
    assert props["tax"] == 6.42
    assert Decimal(repr(props["revenue"])) == Decimal("33.59")  # 45 - 4.99 - 6.42, no drift
    assert props["currency"] == "EUR"
    assert [(p["sku"], p["price"], p["quantity"]) for p in props["products"]] == [
        ("SKU-1", 19.99, 1),
        ("SKU-2", 10.01, 2),
    ]
    assert fake.silently_dropped() == []
    # a redelivery or a later OrderImported of the same order sends nothing new
    again = order_message("OrderImported", "o-1", order=delivery["order"])
    assert post(server, again)["status"] == "duplicate"


def test_an_order_without_email_finds_its_buyer_in_the_identity_map(
    server: ThreadServer, fake: FakeSegment
) -> None:
    post(server, payloads.created("c-9", email="Buyer@Example.com"))
    answer = post(server, order_created("o-9", email=None, customer_id="c-9"))
    assert answer["status"] == "accepted"
    fake.wait_for(lambda: len(_tracks(fake, "Order Completed")) == 1)
    assert _tracks(fake, "Order Completed")[0]["userId"] == "buyer@example.com"


def test_a_cancellation_before_its_order_waits_then_follows_it(
    server: ThreadServer, fake: FakeSegment
) -> None:
    cancelled = order_message(
        "OrderStateChanged", "o-5", version=3, orderState="Cancelled", oldOrderState="Open"
    )
    assert post(server, cancelled)["status"] == "waiting"
    assert post(server, order_created("o-5", anonymous_id="anon-5"))["status"] == "accepted"
    fake.wait_for(lambda: len(_tracks(fake, "Order Cancelled")) == 1)
    [track] = _tracks(fake, "Order Cancelled")
    assert track["userId"] == "jane.doe@example.com"
    assert track["anonymousId"] == "anon-5"
    assert track["properties"]["order_id"] == "o-5"
    assert len(_tracks(fake, "Order Completed")) == 1


def test_an_order_created_without_its_order_is_a_400(server: ThreadServer) -> None:
    r = httpx.post(
        f"{server.url}/api/webhook",
        json=order_message("OrderCreated", "o-1"),
        timeout=10,
    )
    assert r.status_code == 400
    assert "order" in r.json()["error"]
