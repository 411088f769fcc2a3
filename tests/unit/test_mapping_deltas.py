"""Customer delta messages: changed traits only, null on clear, the per-trait stale guard,
waiting for an identity, and the kept address book."""

from __future__ import annotations

from typing import Any

import pytest

from ctsync.ingress._model import CtEvent
from ctsync.mapping import IdentityState, Plan, plan_event
from tests.unit.mapping_support import (
    _A1,
    _A2,
    CID,
    EMAIL,
    WHEN,
    _event,
    _run,
    _state,
)

_A1_TRAIT = {"street": "Hauptstr. 5", "city": "Berlin", "country": "DE"}
_A2_TRAIT = {"city": "Paris", "country": "FR"}


def _traits(plan: Plan) -> dict[str, Any]:
    assert plan.status == "accepted", plan.reason
    (message,) = plan.messages
    assert message.type == "identify"
    return dict(message.body["traits"])


# --- field deltas ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "payload", "expected"),
    [
        pytest.param(
            "CustomerFirstNameSet",
            {"firstName": "Janet"},
            {"firstName": "Janet", "name": "Janet Doe"},
            id="first-name",
        ),
        pytest.param(
            "CustomerFirstNameSet", {}, {"firstName": None, "name": "Doe"}, id="first-name-cleared"
        ),
        pytest.param(
            "CustomerFirstNameSet",
            {"firstName": ""},
            {"firstName": None, "name": "Doe"},
            id="first-name-empty",
        ),
        pytest.param(
            "CustomerLastNameSet",
            {"lastName": "Roe"},
            {"lastName": "Roe", "name": "Jane Roe"},
            id="last-name",
        ),
        pytest.param(
            "CustomerLastNameSet",
            {"lastName": None},
            {"lastName": None, "name": "Jane"},
            id="last-name-null",
        ),
        pytest.param(
            "CustomerDateOfBirthSet",
            {"dateOfBirth": "1991-02-03"},
            {"birthday": "1991-02-03"},
            id="birthday",
        ),
        pytest.param("CustomerDateOfBirthSet", {}, {"birthday": None}, id="birthday-cleared"),
        pytest.param(
            "CustomerCompanyNameSet",
            {"companyName": "Initech"},
            {"company": {"name": "Initech"}},
            id="company",
        ),
        pytest.param("CustomerCompanyNameSet", {}, {"company": None}, id="company-cleared"),
    ],
)
def test_field_delta(type_: str, payload: dict[str, Any], expected: dict[str, Any]) -> None:
    state = _state()
    plan = plan_event(_event(type_, 2, **payload), state)
    assert _traits(plan) == expected
    (message,) = plan.messages
    assert message.user_id == EMAIL
    assert message.body["timestamp"] == WHEN
    assert plan.state is not None
    for trait, value in expected.items():
        assert plan.state.traits.get(trait) == value
        if value is None:
            assert trait not in plan.state.traits
    assert plan.state.version == 2


def test_clearing_the_only_name_clears_name() -> None:
    plan = plan_event(_event("CustomerFirstNameSet", 2), _state(lastName=None))
    assert _traits(plan) == {"firstName": None, "name": None}


def test_delta_does_not_change_the_given_state() -> None:
    state = _state()
    before = state.to_json()
    plan_event(_event("CustomerAddressRemoved", 2, address=_A1), state)
    plan_event(_event("CustomerFirstNameSet", 2, firstName="X"), state)
    assert state.to_json() == before


@pytest.mark.parametrize(
    ("type_", "reason_word"),
    [
        pytest.param("CustomerTitleSet", "honorific", id="title"),
        pytest.param("CustomerGroupSet", "CustomerGroupSet", id="group"),
        pytest.param("CustomerEmailVerified", "CustomerEmailVerified", id="email-verified"),
    ],
)
def test_unmapped_customer_messages_are_ignored(type_: str, reason_word: str) -> None:
    plan = plan_event(_event(type_, 2, title="Dr."), _state())
    assert plan.status == "ignored"
    assert plan.messages == ()
    assert plan.state is None
    assert reason_word in (plan.reason or "")


# --- stale guard ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "status", "sent"),
    [
        pytest.param(
            [
                ("CustomerLastNameSet", 6, {"lastName": "Roe"}),
                ("CustomerFirstNameSet", 5, {"firstName": "Jo"}),
            ],
            "accepted",
            {"firstName": "Jo", "name": "Jo Roe"},
            id="older-first-after-newer-last-still-sent",
        ),
        pytest.param(
            [
                ("CustomerFirstNameSet", 6, {"firstName": "New"}),
                ("CustomerFirstNameSet", 5, {"firstName": "Old"}),
            ],
            "stale",
            None,
            id="older-first-after-newer-first-stale",
        ),
        pytest.param(
            [
                ("CustomerFirstNameSet", 6, {"firstName": "A"}),
                ("CustomerFirstNameSet", 6, {"firstName": "B"}),
            ],
            "accepted",
            {"firstName": "B", "name": "B Doe"},
            id="equal-version-not-stale",
        ),
        pytest.param(
            [
                ("CustomerFirstNameSet", 6, {"firstName": "A"}),
                ("CustomerFirstNameSet", None, {"firstName": "B"}),
            ],
            "accepted",
            {"firstName": "B", "name": "B Doe"},
            id="unknown-version-never-stale",
        ),
        pytest.param(
            [
                ("CustomerCompanyNameSet", 4, {"companyName": "X"}),
                ("CustomerDateOfBirthSet", 3, {}),
            ],
            "accepted",
            {"birthday": None},
            id="other-trait-older-version",
        ),
        pytest.param(
            [
                ("CustomerDateOfBirthSet", 4, {}),
                ("CustomerDateOfBirthSet", 3, {"dateOfBirth": "2000-01-01"}),
            ],
            "stale",
            None,
            id="clear-then-older-set-stale",
        ),
    ],
)
def test_stale_guard(
    events: list[tuple[str, int | None, dict[str, Any]]], status: str, sent: dict[str, Any] | None
) -> None:
    plan = _run(
        _state(), *(_event(t, v, message_id=f"m{i}", **p) for i, (t, v, p) in enumerate(events))
    )
    assert plan.status == status
    if sent is None:
        assert plan.messages == ()
        assert plan.state is None
        assert "version" in (plan.reason or "")
    else:
        assert _traits(plan) == sent


def test_delta_older_than_snapshot_is_stale() -> None:
    plan = plan_event(_event("CustomerFirstNameSet", 3, firstName="Old"), _state(version=4))
    assert plan.status == "stale"


# --- waiting for an identity ----------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(_event("CustomerFirstNameSet", 2, firstName="Jo"), id="first-name"),
        pytest.param(_event("CustomerAddressAdded", 2, address=_A1), id="address"),
        pytest.param(_event("CustomerDefaultBillingAddressSet", 2), id="default-billing"),
        pytest.param(_event("CustomerDeleted", 2), id="deleted-without-email"),
        pytest.param(_event("ResourceDeleted", 2, kind="change"), id="resource-deleted"),
    ],
)
@pytest.mark.parametrize(
    "state",
    [pytest.param(None, id="no-state"), pytest.param(IdentityState(CID), id="no-user-id")],
)
def test_waiting_without_identity(event: CtEvent, state: IdentityState | None) -> None:
    plan = plan_event(event, state)
    assert plan.status == "waiting"
    assert plan.messages == ()
    assert plan.state is None
    assert "snapshot" in (plan.reason or "")


# --- address book ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state_fields", "type_", "payload", "expected"),
    [
        pytest.param(
            {},
            "CustomerAddressChanged",
            {"address": {**_A1, "city": "Munich"}},
            {"address": {**_A1_TRAIT, "city": "Munich"}},
            id="chosen-address-changed",
        ),
        pytest.param(
            {},
            "CustomerAddressChanged",
            {"address": {**_A1, "phone": "+49 40 7654321"}},
            {"phone": "+49407654321"},
            id="chosen-phone-changed",
        ),
        pytest.param(
            {},
            "CustomerAddressRemoved",
            {"address": _A1},
            {"address": _A2_TRAIT, "phone": None},
            id="chosen-removed-next-is-first",
        ),
        pytest.param(
            {"addresses": [_A1]},
            "CustomerAddressRemoved",
            {"address": _A1},
            {"address": None, "phone": None},
            id="last-removed",
        ),
        pytest.param(
            {},
            "CustomerDefaultBillingAddressSet",
            {"address": _A2},
            {"address": _A2_TRAIT, "phone": None},
            id="default-billing-set",
        ),
        pytest.param(
            {},
            "CustomerDefaultShippingAddressSet",
            {"address": _A2},
            {"address": _A2_TRAIT, "phone": None},
            id="default-shipping-set",
        ),
        pytest.param(
            {"defaultBillingAddressId": "a2"},
            "CustomerDefaultBillingAddressSet",
            {},
            {"address": _A1_TRAIT, "phone": "+49301234567"},
            id="default-billing-unset",
        ),
        pytest.param(
            {"defaultBillingAddressId": "a2"},
            "CustomerAddressRemoved",
            {"address": _A2},
            {"address": _A1_TRAIT, "phone": "+49301234567"},
            id="default-removed",
        ),
        pytest.param(
            {"addresses": []},
            "CustomerAddressAdded",
            {"address": _A2},
            {"address": _A2_TRAIT},
            id="first-address-added",
        ),
    ],
)
def test_address_delta(
    state_fields: dict[str, Any], type_: str, payload: dict[str, Any], expected: dict[str, Any]
) -> None:
    plan = plan_event(_event(type_, 2, **payload), _state(**state_fields))
    assert _traits(plan) == expected
    assert plan.state is not None
    assert plan.state.trait_versions["address"] == 2
    for trait, value in expected.items():
        assert plan.state.traits.get(trait) == value


def test_removed_default_address_unsets_the_default() -> None:
    plan = plan_event(
        _event("CustomerAddressRemoved", 2, address=_A2), _state(defaultBillingAddressId="a2")
    )
    assert plan.state is not None
    assert plan.state.default_billing_address_id is None
    assert [a["id"] for a in plan.state.addresses] == ["a1"]


def test_changed_address_keeps_its_place() -> None:
    plan = plan_event(
        _event("CustomerAddressChanged", 2, address={**_A1, "city": "Köln"}), _state()
    )
    assert plan.state is not None
    assert [a["id"] for a in plan.state.addresses] == ["a1", "a2"]


@pytest.mark.parametrize(
    ("type_", "payload"),
    [
        pytest.param(
            "CustomerAddressAdded", {"address": {"id": "a3", "country": "IT"}}, id="added"
        ),
        pytest.param("CustomerAddressChanged", {"address": {**_A2, "city": "Lyon"}}, id="changed"),
        pytest.param("CustomerAddressRemoved", {"address": _A2}, id="removed"),
        pytest.param("CustomerDefaultShippingAddressSet", {"address": _A1}, id="default-same"),
    ],
)
def test_address_delta_without_visible_change(type_: str, payload: dict[str, Any]) -> None:
    plan = plan_event(_event(type_, 2, **payload), _state())
    assert plan.status == "ignored"
    assert plan.messages == ()
    assert plan.state is not None, "the address book changed and must be stored"
    assert plan.state.version == 2


def test_address_delta_stale() -> None:
    plan = _run(
        _state(),
        _event("CustomerAddressChanged", 6, address={**_A1, "city": "Munich"}),
        _event("CustomerAddressChanged", 5, address={**_A1, "city": "Hamburg"}),
    )
    assert plan.status == "stale"
