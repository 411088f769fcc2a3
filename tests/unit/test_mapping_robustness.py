"""What the mapping refuses, ignores or fails, and that odd data never raises."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ctsync.commercetools
import ctsync.mapping
from ctsync.ingress._model import CtEvent
from ctsync.mapping import IdentityState, MappingOptions, Plan, plan_customer_read, plan_event

PROJECT = "shop"
CID = "c-1"


def _event(
    type_: str,
    payload: dict[str, Any],
    *,
    kind: str = "message",
    resource_type: str = "customer",
    version: int | None = 2,
    included: bool = True,
) -> CtEvent:
    return CtEvent(
        kind=kind,  # type: ignore[arg-type]
        type=type_,
        project_key=PROJECT,
        resource_type=resource_type,
        resource_id=CID,
        resource_version=version,
        message_id="m-1",
        created_at="2024-03-01T12:00:00.000Z",
        dedupe_key="msg:m-1",
        payload=payload,
        payload_included=included,
    )


def _state() -> IdentityState:
    customer = {
        "id": CID,
        "version": 1,
        "email": "jane@example.com",
        "firstName": "Jane",
        "addresses": [{"id": "a1", "country": "DE", "city": "Berlin"}],
    }
    state = plan_customer_read(PROJECT, customer, None).state
    assert state is not None
    return state


def test_exports() -> None:
    assert sorted(ctsync.mapping.__all__) == [
        "IdentityState",
        "MappingOptions",
        "Plan",
        "PlanStatus",
        "SegmentMessage",
        "customer_traits",
        "normalize_email",
        "plan_customer_read",
        "plan_event",
    ]
    assert sorted(ctsync.commercetools.__all__) == [
        "Address",
        "ApiConfig",
        "AuthFailed",
        "CommercetoolsClient",
        "Customer",
        "NotFound",
        "Order",
        "Page",
        "RetryOptions",
    ]
    for module in (ctsync.mapping, ctsync.commercetools):
        for name in module.__all__:
            assert hasattr(module, name)


def test_state_json_round_trip() -> None:
    state = _state()
    state.trait_versions["firstName"] = 9
    again = IdentityState.from_json(json.loads(json.dumps(state.to_json())))
    assert again == state
    assert IdentityState.from_json({"customer_id": "x"}) == IdentityState("x")


def test_order_model_is_lenient() -> None:
    order = ctsync.commercetools.Order.model_validate(
        {"id": "o1", "lineItems": None, "totalPrice": {"centAmount": 100}, "newField": 1}
    )
    assert order.lineItems == []
    assert order.model_extra == {"newField": 1}


@pytest.mark.parametrize(
    ("event", "status", "reason_word"),
    [
        pytest.param(
            _event("OrderCreated", {"order": {}}, resource_type="order"),
            "ignored",
            "order",
            id="order",
        ),
        pytest.param(
            _event("ResourceCreated", {}, kind="change", resource_type="subscription"),
            "ignored",
            "subscription",
            id="subscription-test-delivery",
        ),
        pytest.param(
            _event("ResourceUpdated", {}, kind="change"),
            "failed",
            "CTP_CLIENT_ID",
            id="change-notification",
        ),
        pytest.param(
            _event("ResourceCreated", {}, kind="change"),
            "failed",
            "CTP_CLIENT_SECRET",
            id="created-notification",
        ),
        pytest.param(
            _event("CustomerFirstNameSet", {}, kind="change", included=False),
            "failed",
            "no customer data",
            id="payload-not-included",
        ),
        pytest.param(
            _event("CustomerCreated", {}, kind="change", included=False),
            "failed",
            "CTP_PROJECT_KEY",
            id="created-payload-not-included",
        ),
        pytest.param(
            _event("CustomerGroupSet", {}, kind="change", included=False),
            "ignored",
            "CustomerGroupSet",
            id="unmapped-payload-not-included",
        ),
    ],
)
def test_events_without_usable_data(event: CtEvent, status: str, reason_word: str) -> None:
    plan = plan_event(event, _state())
    assert plan.status == status
    assert plan.messages == ()
    assert plan.state is None
    assert reason_word in (plan.reason or "")


@pytest.mark.parametrize(
    ("type_", "payload", "reason_word"),
    [
        pytest.param("CustomerCreated", {}, "customer", id="created-no-customer"),
        pytest.param("CustomerCreated", {"customer": "x"}, "customer", id="created-string"),
        pytest.param(
            "CustomerCreated",
            {"customer": {"id": "someone-else", "email": "a@b.c"}},
            "resource",
            id="id-not-the-resource",
        ),
        pytest.param(
            "CustomerCreated",
            {"customer": {"id": CID, "email": "a@b.c", "addresses": "x"}},
            "addresses",
            id="addresses-string",
        ),
        pytest.param(
            "CustomerCreated",
            {"customer": {"id": CID, "email": "a@b.c", "addresses": [3]}},
            "addresses",
            id="address-number",
        ),
        pytest.param(
            "CustomerCreated",
            {"customer": {"id": CID, "email": ["a@b.c"]}},
            "email",
            id="email-list",
        ),
        pytest.param(
            "CustomerCreated",
            {"customer": {"id": CID, "email": "a@b.c", "version": "x"}},
            "version",
            id="version-text",
        ),
        pytest.param(
            "CustomerCreated",
            {"customer": {"id": "other", "email": "a@b.c"}},
            "resource",
            id="id-mismatch",
        ),
        pytest.param("CustomerFirstNameSet", {"firstName": 5}, "firstName", id="name-number"),
        pytest.param("CustomerLastNameSet", {"lastName": {"a": 1}}, "lastName", id="name-object"),
        pytest.param("CustomerDateOfBirthSet", {"dateOfBirth": "soon"}, "date", id="not-a-date"),
        pytest.param("CustomerCompanyNameSet", {"companyName": []}, "companyName", id="company"),
        pytest.param("CustomerAddressAdded", {}, "address", id="added-no-address"),
        pytest.param("CustomerAddressAdded", {"address": "x"}, "address", id="added-string"),
        pytest.param(
            "CustomerAddressChanged",
            {"address": {"country": "DE"}},
            "address.id",
            id="changed-no-id",
        ),
        pytest.param(
            "CustomerAddressAdded",
            {"address": {"id": "a", "phone": 12}},
            "phone",
            id="phone-number",
        ),
        pytest.param("CustomerEmailChanged", {}, "email", id="email-missing"),
        pytest.param("CustomerEmailChanged", {"email": "  "}, "email", id="email-blank"),
        pytest.param("CustomerEmailChanged", {"email": 3}, "email", id="email-number"),
        pytest.param(
            "CustomerEmailChanged",
            {"email": "a@b.c", "oldEmail": 1},
            "oldEmail",
            id="old-email-number",
        ),
        pytest.param("CustomerDeleted", {"email": []}, "email", id="deleted-email-list"),
    ],
)
def test_odd_payloads_fail_with_a_reason(
    type_: str, payload: dict[str, Any], reason_word: str
) -> None:
    plan = plan_event(_event(type_, payload), _state())
    assert plan.status == "failed"
    assert plan.messages == ()
    assert plan.state is None
    assert reason_word in (plan.reason or "")
    assert type_ in (plan.reason or "")


def test_failure_reason_does_not_echo_values() -> None:
    payload = {"customer": {"id": CID, "email": "secret@example.com", "firstName": ["Jane"]}}
    plan = plan_event(_event("CustomerCreated", payload), None)
    assert plan.status == "failed"
    assert "Jane" not in (plan.reason or "")


@pytest.mark.parametrize("customer", [{}, {"id": CID, "email": 1}, {"id": 3, "email": "a@b.c"}])
def test_read_of_odd_customer_fails(customer: dict[str, Any]) -> None:
    assert plan_customer_read(PROJECT, customer, None).status == "failed"


_TYPES = [
    "CustomerCreated",
    "CustomerEmailChanged",
    "CustomerFirstNameSet",
    "CustomerLastNameSet",
    "CustomerTitleSet",
    "CustomerDateOfBirthSet",
    "CustomerCompanyNameSet",
    "CustomerAddressAdded",
    "CustomerAddressChanged",
    "CustomerAddressRemoved",
    "CustomerDefaultBillingAddressSet",
    "CustomerDefaultShippingAddressSet",
    "CustomerDeleted",
    "CustomerGroupSet",
    "ResourceUpdated",
    "ResourceDeleted",
]
_FIELDS = [
    "customer",
    "email",
    "oldEmail",
    "firstName",
    "lastName",
    "dateOfBirth",
    "companyName",
    "address",
    "id",
    "version",
    "addresses",
    "country",
    "phone",
    "mobile",
    "streetName",
    "defaultBillingAddressId",
    "state",
    "region",
    "createdAt",
]
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "  ", CID, "a1", "DE", "a@b.c", "1990-01-01", "+49 30 1234567"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=5), inner, max_size=6)
    ),
    max_leaves=20,
)
_payloads = st.dictionaries(st.sampled_from(_FIELDS), _json, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    type_=st.sampled_from(_TYPES),
    kind=st.sampled_from(["message", "snapshot", "change"]),
    payload=_payloads,
    version=st.none() | st.integers(min_value=0, max_value=2**63 - 1),
    with_state=st.booleans(),
    identity=st.sampled_from(["email", "customer_id"]),
)
def test_random_payloads_never_raise(
    type_: str,
    kind: str,
    payload: dict[str, Any],
    version: int | None,
    with_state: bool,
    identity: str,
) -> None:
    event = _event(type_, payload, kind=kind, version=version)
    options = MappingOptions(identity=identity)  # type: ignore[arg-type]
    plan = plan_event(event, _state() if with_state else None, options)
    assert isinstance(plan, Plan)
    assert "unexpected data" not in (plan.reason or ""), plan.reason
    for message in plan.messages:
        assert len(message.message_id) < 100
        json.dumps(message.body, allow_nan=False)
    if plan.state is not None:
        json.dumps(plan.state.to_json())
    if plan.status in ("accepted",):
        assert plan.messages
    if plan.status in ("failed", "waiting", "stale"):
        assert plan.messages == ()
        assert plan.reason
