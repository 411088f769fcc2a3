"""Orders -> "Order Completed" (Segment e-commerce v2), money exact, buyer by identity strategy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ctsync.ingress import parse_ct_payload
from ctsync.mapping import IdentityState, MappingOptions, Plan, plan_event
from ctsync.mapping.file import parse_mapping
from tests.helpers import ROOT
from tests.order_payloads import line_item, money, order, order_created, order_message


def _plan(message: dict[str, Any], state: IdentityState | None = None, **options: Any) -> Plan:
    return plan_event(parse_ct_payload(message), state, MappingOptions(**options))


def _properties(message: dict[str, Any]) -> dict[str, Any]:
    plan = _plan(message)
    assert plan.status == "accepted", plan.reason
    (track,) = plan.messages
    assert track.body["event"] == "Order Completed"
    return dict(track.body["properties"])


def _with_codes(**fields: Any) -> dict[str, Any]:
    codes = [
        {"discountCode": {"typeId": "discount-code", "id": "dc-1", "obj": {"code": "WELCOME10"}}}
    ]
    return order_created(discountCodes=codes, **fields)


MONEY_CASES = [
    pytest.param(
        order_created(),
        {"total": 19.99, "revenue": 19.99, "discount": 0, "currency": "EUR"},
        id="one-item-eur",
    ),
    pytest.param(
        order_created(items=[line_item("SKU-1", 2499, 2)], shipping=495, tax=877, currency="EUR"),
        {"total": 54.93, "revenue": 41.21, "shipping": 4.95, "tax": 8.77, "discount": 0},
        id="tax-and-shipping",
    ),
    pytest.param(
        order_created(items=[line_item("A", 10), line_item("B", 20)], shipping=10, total=30),
        {"total": 0.3, "revenue": 0.2, "shipping": 0.1},
        id="no-float-drift",
    ),
    pytest.param(
        _with_codes(
            items=[
                line_item("CART", 1000, 3, total=2700),
                line_item("PROMO", 5000, 1, discounted=4000),
            ],
            total=6200,
            discountOnTotalPrice={"discountedAmount": money(500)},
        ),
        {"total": 62, "revenue": 62, "discount": 18, "coupon": "WELCOME10"},
        id="cart-product-and-total-discounts",
    ),
    pytest.param(
        order_created(
            items=[line_item("TEA", 1500, 2, currency="JPY", digits=0)], currency="JPY", digits=0
        ),
        {"total": 3000, "revenue": 3000, "currency": "JPY"},
        id="jpy-fraction-digits-0",
    ),
    pytest.param(
        order_created(
            items=[line_item("OUD", 12345, 1, currency="KWD", digits=3)], currency="KWD", digits=3
        ),
        {"total": 12.345, "revenue": 12.345, "currency": "KWD"},
        id="kwd-fraction-digits-3",
    ),
    pytest.param(
        order_created(
            items=[line_item("GIFT-5000", 5000, 1, currency="JPY", digits=0)],
            currency="JPY",
            digits=0,
        ),
        {"total": 5000, "currency": "JPY"},
        id="gift-card-fraction-digits-0",
    ),
    pytest.param(
        order_created(
            items=[line_item("GIFT-25", 25000, 2, currency="BHD", digits=3, total=47500)],
            currency="BHD",
            digits=3,
        ),
        {"total": 47.5, "discount": 2.5, "currency": "BHD"},
        id="gift-card-fraction-digits-3-discounted",
    ),
    pytest.param(
        order_created(items=[line_item("HAT", 2999, 1, currency="USD")], currency="USD", tax=240),
        {"total": 29.99, "tax": 2.4, "revenue": 27.59, "currency": "USD"},
        id="usd-with-tax",
    ),
]


@pytest.mark.parametrize(("message", "expected"), MONEY_CASES)
def test_order_money_is_exact(message: dict[str, Any], expected: dict[str, Any]) -> None:
    props = _properties(message)
    for key, value in expected.items():
        assert props[key] == value, key
        assert type(props[key]) is type(value), key  # 3000 stays an int, 0.3 a float


def test_money_prints_as_written_in_the_json_sent() -> None:
    message = order_created(items=[line_item("A", 10), line_item("B", 20)], shipping=10, total=30)
    body = json.dumps(_plan(message).messages[0].body, separators=(",", ":"))
    assert '"total":0.3,' in body
    assert '"revenue":0.2,' in body
    assert "0.30000000000000004" not in body
    assert "0.19999999999999998" not in body


def test_products_in_segment_shape() -> None:
    message = order_created(
        items=[
            line_item("SKU-1", 1999, 2, category="shoes", variant_key="black-42"),
            line_item("SKU-2", 500, 1, discounted=450, name={"en": "Socks"}),
        ]
    )
    products = _properties(message)["products"]
    assert products == [
        {
            "product_id": "prod-SKU-1",
            "sku": "SKU-1",
            "name": "Produkt SKU-1",  # the order's locale, de-DE
            "price": 19.99,
            "quantity": 2,
            "category": "shoes",
            "variant": "black-42",
            "position": 1,
            "image_url": "https://img.example/SKU-1.jpg",
        },
        {
            "product_id": "prod-SKU-2",
            "sku": "SKU-2",
            "name": "Socks",  # no German name: English
            "price": 4.5,  # the product-discounted unit price
            "quantity": 1,
            "variant": "2",
            "position": 2,
            "image_url": "https://img.example/SKU-2.jpg",
        },
    ]


def test_order_ids_and_timestamp() -> None:
    plan = _plan(order_created("o-77"))
    body = plan.messages[0].body
    assert body["properties"]["order_id"] == "o-77"
    assert body["properties"]["order_number"] == "N-o-77"
    assert body["timestamp"] == "2026-11-02T09:30:00.000Z"  # the order's createdAt
    assert body["userId"] == "jane.doe@example.com"
    assert plan.state is not None
    assert plan.state.user_id == "jane.doe@example.com"


def test_one_message_id_per_order_and_event_name() -> None:
    created = _plan(order_created("o-1")).messages[0].message_id
    again = _plan(order_created("o-1")).messages[0].message_id
    imported = _plan(order_message("OrderImported", "o-1", order=order("o-1"))).messages[0]
    other = _plan(order_created("o-2")).messages[0].message_id
    assert created == again == imported.message_id
    assert created != other
    assert len(created) < 100


@pytest.mark.parametrize(
    ("fields", "state", "identity", "status", "user_id", "anonymous_id"),
    [
        pytest.param({}, None, "email", "accepted", "jane.doe@example.com", None, id="email"),
        pytest.param(
            {"anonymous_id": "anon-1"}, None, "email", "accepted",
            "jane.doe@example.com", "anon-1", id="email-and-anonymous",
        ),
        pytest.param(
            {"email": None, "customer_id": None, "anonymous_id": "anon-1"}, None, "email",
            "accepted", None, "anon-1", id="anonymous-guest",
        ),
        pytest.param(
            {"email": None}, IdentityState("c-1", user_id="known@example.com"), "email",
            "accepted", "known@example.com", None, id="customer-id-via-identity-map",
        ),
        pytest.param({"email": None}, None, "email", "failed", None, None, id="unknown-customer"),
        pytest.param(
            {"email": None, "customer_id": None}, None, "email", "ignored", None, None,
            id="nobody",
        ),
        pytest.param({}, None, "customer_id", "accepted", "c-1", None, id="customer-id"),
        pytest.param(
            {"customer_id": None}, None, "customer_id", "ignored", None, None,
            id="guest-under-customer-id",
        ),
    ],
)  # fmt: skip
def test_buyer_by_identity_strategy(
    fields: dict[str, Any],
    state: IdentityState | None,
    identity: str,
    status: str,
    user_id: str | None,
    anonymous_id: str | None,
) -> None:
    plan = _plan(order_created(**fields), state, identity=identity)
    assert plan.status == status, plan.reason
    if status != "accepted":
        assert plan.messages == ()
        assert "order" in (plan.reason or "")
        return
    body = plan.messages[0].body
    assert body.get("userId") == user_id
    assert body.get("anonymousId") == anonymous_id


def _state_change(mtype: str, field: str, new: str, old: str) -> dict[str, Any]:
    return order_message(
        mtype, "o-1", version=3, **{field: new, f"old{field[0].upper()}{field[1:]}": old}
    )


def test_state_changes_send_the_event_the_mapping_names() -> None:
    known = _plan(order_created("o-1", anonymous_id="anon-1")).state
    cancelled = _plan(_state_change("OrderStateChanged", "orderState", "Cancelled", "Open"), known)
    assert cancelled.status == "accepted"
    body = cancelled.messages[0].body
    assert body["event"] == "Order Cancelled"
    assert body["userId"] == "jane.doe@example.com"
    assert body["anonymousId"] == "anon-1"
    assert body["properties"] == {
        "order_id": "o-1",
        "orderState": "Cancelled",
        "oldOrderState": "Open",
    }
    complete = _plan(_state_change("OrderStateChanged", "orderState", "Complete", "Open"), known)
    assert complete.status == "ignored"
    paid = _plan(
        _state_change("OrderPaymentStateChanged", "paymentState", "Paid", "Pending"), known
    )
    assert paid.status == "ignored"


def test_state_change_events_come_from_the_mapping_file() -> None:
    options = parse_mapping(
        "version: 1\nmessages:\n  OrderPaymentStateChanged:\n    track: {Paid: Order Paid}\n"
        "  OrderShipmentStateChanged:\n"
        "    track: {Shipped: Order Shipped, Delivered: Order Delivered}\n",
        "m.yaml",
    )
    known = _plan(order_created("o-1")).state
    for mtype, field, new, event in [
        ("OrderPaymentStateChanged", "paymentState", "Paid", "Order Paid"),
        ("OrderShipmentStateChanged", "shipmentState", "Shipped", "Order Shipped"),
        ("OrderShipmentStateChanged", "shipmentState", "Delivered", "Order Delivered"),
    ]:
        event_ = parse_ct_payload(_state_change(mtype, field, new, "Pending"))
        plan = plan_event(event_, known, options)
        assert plan.messages[0].body["event"] == event


def test_a_state_change_before_its_order_waits() -> None:
    plan = _plan(_state_change("OrderStateChanged", "orderState", "Cancelled", "Open"))
    assert plan.status == "waiting"


def test_orders_can_be_turned_off() -> None:
    options = parse_mapping("version: 1\nmessages:\n  OrderCreated: ignore\n", "m.yaml")
    plan = plan_event(parse_ct_payload(order_created()), None, options)
    assert plan.status == "ignored"
    assert "OrderCreated" in (plan.reason or "")


@pytest.mark.parametrize(
    ("order_fields", "says"),
    [
        pytest.param({"totalPrice": None}, "totalPrice", id="no-total"),
        pytest.param({"lineItems": [{"quantity": "many"}]}, "quantity", id="bad-quantity"),
        pytest.param(
            {"totalPrice": {"centAmount": "12.00", "currencyCode": "EUR"}}, "centAmount",
            id="bad-cents",
        ),
        pytest.param(
            {"totalPrice": {"centAmount": 10**30, "currencyCode": "EUR"}}, "beyond",
            id="amount-out-of-range",
        ),
    ],
)  # fmt: skip
def test_odd_orders_fail_with_a_reason(order_fields: dict[str, Any], says: str) -> None:
    plan = _plan(order_message("OrderCreated", order={**order(), **order_fields}))
    assert plan.status == "failed"
    assert says in (plan.reason or "")


def test_the_example_order_in_the_docs() -> None:
    path = ROOT / "examples" / "orders" / "order-created.json"
    props = _properties(json.loads(path.read_text()))
    assert (props["total"], props["revenue"], props["shipping"], props["tax"]) == (
        50.92,
        35.68,
        4.95,
        10.29,
    )
    assert (props["discount"], props["coupon"], props["order_number"]) == (
        5,
        "FRUEHLING10",
        "AC-2026-000123",
    )


def test_an_order_read_from_the_api_sends_what_its_message_sent() -> None:
    from ctsync.mapping.orders import plan_order_read

    message = order_created("o-3")
    live = _plan(message).messages[0]
    read = plan_order_read("shop-test", message["order"], None)
    assert read.status == "accepted"
    assert read.messages[0].message_id == live.message_id  # Segment deduplicates the backfill
    assert read.messages[0].body == live.body
    odd = plan_order_read("shop-test", {"id": "o-4", "totalPrice": {"centAmount": "x"}}, None)
    assert odd.status == "failed"
    assert "centAmount" in (odd.reason or "")
