"""Full customer snapshots -> one Identify: state, identity, stale guard, messageIds."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ctsync import __version__
from ctsync.ingress._model import CtEvent
from ctsync.mapping import (
    IdentityState,
    MappingOptions,
    plan_customer_read,
    plan_event,
)

PROJECT = "shop"
CID = "c-1"
CREATED = "2024-01-01T10:00:00.000Z"


def _customer(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": CID,
        "version": 1,
        "email": "jane@example.com",
        "createdAt": CREATED,
        "lastModifiedAt": "2024-01-02T10:00:00.000Z",
    }
    base.update(fields)
    return base


_A1 = {
    "id": "a1",
    "country": "DE",
    "streetName": "Hauptstr.",
    "streetNumber": "5",
    "city": "Berlin",
}
_A2 = {"id": "a2", "country": "FR", "city": "Paris", "postalCode": "75001"}


def _created(customer: dict[str, Any], *, message_id: str = "m-1") -> CtEvent:
    return CtEvent(
        kind="message",
        type="CustomerCreated",
        project_key=PROJECT,
        resource_type="customer",
        resource_id=customer.get("id", CID),
        resource_version=customer.get("version"),
        message_id=message_id,
        created_at="2024-01-02T10:00:00.000Z",
        dedupe_key=f"msg:{message_id}",
        payload={"notificationType": "Message", "type": "CustomerCreated", "customer": customer},
    )


def _seed(customer: dict[str, Any], type_: str = "CustomerUpdated") -> CtEvent:
    return CtEvent(
        kind="snapshot",
        type=type_,
        project_key=PROJECT,
        resource_type="customer",
        resource_id=customer["id"],
        resource_version=customer.get("version"),
        message_id=None,
        created_at=customer.get("lastModifiedAt"),
        dedupe_key="snap",
        payload={"notificationType": "Message", "type": type_, "customer": customer},
    )


def _delta(type_: str, version: int, **payload: Any) -> CtEvent:
    return CtEvent(
        kind="message",
        type=type_,
        project_key=PROJECT,
        resource_type="customer",
        resource_id=CID,
        resource_version=version,
        message_id=f"m-{type_}-{version}",
        created_at="2024-02-01T00:00:00.000Z",
        dedupe_key=f"msg:{type_}:{version}",
        payload={"type": type_, **payload},
        sequence_number=version,
    )


def _state(customer: dict[str, Any]) -> IdentityState:
    plan = plan_customer_read(PROJECT, customer, None)
    assert plan.state is not None
    return plan.state


def _nulls(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_nulls(v) for v in value.values())
    return False


def test_snapshot_never_sends_null() -> None:
    customer = _customer(
        firstName=None,
        lastName="",
        dateOfBirth=None,
        companyName="",
        addresses=[{"id": "a", "country": "DE", "city": None, "phone": "x", "state": ""}],
    )
    body = plan_event(_created(customer), None).messages[0].body
    assert not _nulls(body["traits"])
    assert body["traits"]["address"] == {"country": "DE"}
    assert "phone" not in body["traits"]


# --- the Identify call ----------------------------------------------------------------


def test_created_message_identify_body() -> None:
    customer = _customer(email=" Jane@Example.com", firstName="Jane", lastName="Doe")
    plan = plan_event(_created(customer), None)
    assert plan.status == "accepted"
    assert plan.user_id == "jane@example.com"
    (message,) = plan.messages
    assert message.type == "identify"
    assert message.user_id == "jane@example.com"
    assert message.body == {
        "type": "identify",
        "messageId": message.message_id,
        "userId": "jane@example.com",
        "timestamp": "2024-01-02T10:00:00.000Z",
        "traits": {
            "email": "jane@example.com",
            "firstName": "Jane",
            "lastName": "Doe",
            "name": "Jane Doe",
            "createdAt": CREATED,
            "commercetoolsCustomerId": CID,
        },
        "context": {"library": {"name": "ctsync", "version": __version__}},
    }
    assert len(message.message_id) < 100


def test_snapshot_state() -> None:
    customer = _customer(addresses=[_A1, _A2], defaultShippingAddressId="a2", version=4)
    plan = plan_event(_created(customer), None)
    state = plan.state
    assert state is not None
    assert (state.customer_id, state.user_id, state.email, state.version) == (
        CID,
        "jane@example.com",
        "jane@example.com",
        4,
    )
    assert state.addresses == [_A1, _A2]
    assert state.default_shipping_address_id == "a2"
    assert state.default_billing_address_id is None
    assert state.traits["address"] == {"city": "Paris", "postalCode": "75001", "country": "FR"}
    assert state.trait_versions["firstName"] == 4
    assert state.trait_versions["address"] == 4


def test_read_uses_last_modified_as_timestamp() -> None:
    plan = plan_customer_read(PROJECT, _customer(), None)
    assert plan.messages[0].body["timestamp"] == "2024-01-02T10:00:00.000Z"
    plan = plan_customer_read(PROJECT, _customer(lastModifiedAt=None), None)
    assert "timestamp" not in plan.messages[0].body


def test_customer_id_strategy() -> None:
    options = MappingOptions(identity="customer_id")
    plan = plan_event(_created(_customer(email="Jane@Example.com ")), None, options)
    (message,) = plan.messages
    assert message.user_id == CID
    assert message.body["userId"] == CID
    assert message.body["traits"]["email"] == "jane@example.com"
    assert plan.state is not None
    assert plan.state.user_id == CID


@pytest.mark.parametrize("email", [None, "", "   "])
def test_no_email(email: str | None) -> None:
    customer = _customer(email=email)
    failed = plan_event(_created(customer), None)
    assert failed.status == "failed"
    assert "email" in (failed.reason or "")
    plan = plan_event(_created(customer), None, MappingOptions(identity="customer_id"))
    assert plan.status == "accepted"
    assert "email" not in plan.messages[0].body["traits"]


# --- messageIds -----------------------------------------------------------------------


def test_same_version_same_id_whatever_the_source() -> None:
    customer = _customer(version=7)
    ids = {
        plan_event(_seed(customer), None).messages[0].message_id,
        plan_event(_seed(customer, "CustomerCreated"), None).messages[0].message_id,
        plan_event(_created(customer, message_id="m-a"), None).messages[0].message_id,
        plan_event(_created(customer, message_id="m-b"), None).messages[0].message_id,
        plan_customer_read(PROJECT, customer, None).messages[0].message_id,
    }
    assert len(ids) == 1


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({"version": 8}, id="version"),
        pytest.param({"id": "c-2"}, id="customer"),
    ],
)
def test_different_snapshot_different_id(other: dict[str, Any]) -> None:
    one = plan_customer_read(PROJECT, _customer(version=7), None).messages[0].message_id
    two = plan_customer_read(PROJECT, _customer(**{"version": 7, **other}), None)
    assert two.messages[0].message_id != one


def test_project_key_is_part_of_the_id() -> None:
    one = plan_customer_read("shop-a", _customer(), None).messages[0].message_id
    two = plan_customer_read("shop-b", _customer(), None).messages[0].message_id
    assert one != two


def test_unversioned_snapshot_ids_follow_message_id_else_content() -> None:
    customer = _customer(version=None)
    a = plan_event(_created(customer, message_id="m-a"), None).messages[0].message_id
    b = plan_event(_created(customer, message_id="m-b"), None).messages[0].message_id
    assert a != b
    read1 = plan_customer_read(PROJECT, customer, None).messages[0].message_id
    read2 = plan_customer_read(PROJECT, dict(reversed(customer.items())), None)
    read3 = plan_customer_read(PROJECT, _customer(version=None, firstName="X"), None)
    assert read1 == read2.messages[0].message_id
    assert read1 != read3.messages[0].message_id


# --- snapshots against a known state ---------------------------------------------------


def test_snapshot_obeys_per_trait_guard() -> None:
    state = _state(_customer(version=1, firstName="Jane", lastName="Doe"))
    first = plan_event(_delta("CustomerFirstNameSet", 6, firstName="Janet"), state)
    assert first.state is not None
    plan = plan_event(_created(_customer(version=5, firstName="Old", lastName="Roe")), first.state)
    assert plan.status == "accepted"
    traits = plan.messages[0].body["traits"]
    assert "firstName" not in traits
    assert traits["lastName"] == "Roe"
    assert traits["name"] == "Janet Roe"
    assert plan.state is not None
    assert plan.state.traits["firstName"] == "Janet"
    assert plan.state.version == 6


def test_snapshot_older_than_everything_is_stale() -> None:
    state = _state(_customer(version=6, firstName="Jane"))
    plan = plan_event(_created(_customer(version=5, firstName="Old")), state)
    assert plan.status == "stale"
    assert plan.messages == ()
    assert plan.state is None


def test_snapshot_at_equal_version_is_not_stale() -> None:
    state = _state(_customer(version=6, firstName="Jane"))
    plan = plan_event(_seed(_customer(version=6, firstName="Jane")), state)
    assert plan.status == "accepted"
    assert plan.messages[0].body["traits"]["firstName"] == "Jane"


def test_snapshot_with_new_email_aliases_the_old_user() -> None:
    state = _state(_customer(version=1))
    plan = plan_customer_read(PROJECT, _customer(version=3, email="New@Example.com"), state)
    alias, identify = plan.messages
    assert alias.body["type"] == "alias"
    assert (alias.body["previousId"], alias.body["userId"]) == (
        "jane@example.com",
        "new@example.com",
    )
    assert identify.user_id == "new@example.com"
    assert alias.message_id != identify.message_id


def test_snapshot_older_than_an_email_change_keeps_the_new_user() -> None:
    state = _state(_customer(version=1))
    changed = plan_event(
        _delta("CustomerEmailChanged", 6, email="new@example.com", oldEmail="jane@example.com"),
        state,
    )
    plan = plan_event(_created(_customer(version=5, lastName="Doe")), changed.state)
    (identify,) = plan.messages
    assert identify.user_id == "new@example.com"
    assert "email" not in identify.body["traits"]
    assert identify.body["traits"]["lastName"] == "Doe"


def test_snapshot_of_deleted_customer_is_stale() -> None:
    state = _state(_customer(version=1))
    deleted = plan_event(_delta("CustomerDeleted", 2), state)
    assert deleted.state is not None
    plan = plan_event(_created(_customer(version=1)), deleted.state)
    assert plan.status == "stale"
    assert plan.messages == ()


def test_message_id_scheme_is_pinned() -> None:
    """Changing the scheme would re-send everything after an upgrade: Segment dedupes by id."""
    namespace = uuid.UUID("ea9bbe2e-60d3-554a-ae41-8a62524c5c2b")
    plan = plan_customer_read(PROJECT, _customer(version=7), None)
    assert plan.messages[0].message_id == str(
        uuid.uuid5(namespace, f"{PROJECT}|{CID}|7|snapshot|0")
    )
    state = plan.state
    first = plan_event(_delta("CustomerFirstNameSet", 8, firstName="A"), state).messages[0]
    # a delta's id holds its sequenceNumber: the messages of one update share a version
    expected = uuid.uuid5(namespace, f"{PROJECT}|{CID}|8|CustomerFirstNameSet|s8|0")
    assert first.message_id == str(expected)
    deleted = plan_event(_delta("CustomerDeleted", 9), state).messages[0]
    assert deleted.message_id == str(uuid.uuid5(namespace, f"{PROJECT}|Customer Deleted|{CID}"))
