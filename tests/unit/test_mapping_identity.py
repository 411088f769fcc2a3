"""Identity changes: email change (Alias + Identify), deletion (Track), delta messageIds."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ctsync.mapping import IdentityState, MappingOptions, plan_customer_read, plan_event
from tests.unit.mapping_support import (
    CID,
    EMAIL,
    PROJECT,
    WHEN,
    _customer,
    _event,
    _run,
    _state,
)

# --- email change ---------------------------------------------------------------------


def test_email_change_aliases_then_identifies() -> None:
    state = _state()
    plan = plan_event(
        _event("CustomerEmailChanged", 2, email=" New@Example.com", oldEmail=EMAIL), state
    )
    assert plan.status == "accepted"
    alias, identify = plan.messages
    assert alias.type == "alias"
    assert alias.body["previousId"] == EMAIL
    assert alias.body["userId"] == "new@example.com"
    assert identify.type == "identify"
    assert identify.user_id == "new@example.com"
    assert identify.body["traits"] == {**state.traits, "email": "new@example.com"}
    assert identify.body["traits"]["name"] == "Jane Doe"
    assert alias.message_id != identify.message_id
    assert plan.state is not None
    assert (plan.state.user_id, plan.state.email) == ("new@example.com", "new@example.com")
    assert plan.user_id == "new@example.com"


def test_email_change_without_state_uses_old_email() -> None:
    plan = plan_event(
        _event("CustomerEmailChanged", 2, email="new@x.io", oldEmail="Old@X.io"), None
    )
    alias, identify = plan.messages
    assert alias.body["previousId"] == "old@x.io"
    assert identify.body["traits"] == {"email": "new@x.io", "commercetoolsCustomerId": CID}
    assert plan.state is not None
    assert plan.state.user_id == "new@x.io"


def test_email_change_without_any_old_id_only_identifies() -> None:
    plan = plan_event(_event("CustomerEmailChanged", 2, email="new@x.io"), None)
    assert [m.type for m in plan.messages] == ["identify"]


def test_email_change_in_case_only_does_not_alias() -> None:
    plan = plan_event(_event("CustomerEmailChanged", 2, email="JANE@example.com"), _state())
    assert [m.type for m in plan.messages] == ["identify"]


def test_email_change_customer_id_strategy() -> None:
    options = MappingOptions(identity="customer_id")
    state = plan_customer_read(PROJECT, _customer(), None, options).state
    plan = plan_event(_event("CustomerEmailChanged", 2, email="New@x.io"), state, options)
    (identify,) = plan.messages
    assert identify.user_id == CID
    assert identify.body["traits"] == {"email": "new@x.io"}


def test_email_change_stale() -> None:
    plan = _run(
        _state(),
        _event("CustomerEmailChanged", 6, email="newest@x.io"),
        _event("CustomerEmailChanged", 5, email="older@x.io"),
    )
    assert plan.status == "stale"


def test_after_email_change_deltas_go_to_the_new_user() -> None:
    plan = _run(
        _state(),
        _event("CustomerEmailChanged", 2, email="new@x.io"),
        _event("CustomerLastNameSet", 3, lastName="Roe"),
    )
    assert plan.messages[0].user_id == "new@x.io"


# --- deletion -------------------------------------------------------------------------


def test_deletion_tracks_and_marks_state() -> None:
    plan = plan_event(_event("CustomerDeleted", 3), _state())
    (track,) = plan.messages
    assert track.type == "track"
    assert track.user_id == EMAIL
    assert track.body["event"] == "Customer Deleted"
    assert track.body["properties"] == {"commercetoolsCustomerId": CID}
    assert track.body["timestamp"] == WHEN
    assert plan.state is not None
    assert plan.state.deleted is True


def test_deletion_event_name_is_configurable() -> None:
    plan = plan_event(_event("CustomerDeleted", 3), _state(), MappingOptions(deleted_event="Gone"))
    assert plan.messages[0].body["event"] == "Gone"


@pytest.mark.parametrize(
    ("payload", "options", "user_id"),
    [
        pytest.param(
            {"email": " Jane@Example.com"}, MappingOptions(), EMAIL, id="email-in-message"
        ),
        pytest.param({}, MappingOptions(identity="customer_id"), CID, id="customer-id-strategy"),
    ],
)
def test_deletion_without_state(
    payload: dict[str, Any], options: MappingOptions, user_id: str
) -> None:
    plan = plan_event(_event("CustomerDeleted", 3, **payload), None, options)
    assert plan.status == "accepted"
    assert plan.messages[0].user_id == user_id
    assert plan.state is not None
    assert plan.state.deleted


def test_deletion_message_id_is_per_customer_not_per_delivery() -> None:
    state = _state()
    deleted = plan_event(_event("CustomerDeleted", 3), state).messages[0].message_id
    resource = plan_event(_event("ResourceDeleted", 3, kind="change"), state)
    assert resource.status == "accepted"
    assert resource.messages[0].message_id == deleted
    other = IdentityState("c-2", user_id="x@y.z")
    other_event = dataclasses.replace(_event("CustomerDeleted", 3), resource_id="c-2")
    assert plan_event(other_event, other).messages[0].message_id != deleted


def test_delta_after_deletion_is_stale() -> None:
    plan = _run(
        _state(), _event("CustomerDeleted", 3), _event("CustomerFirstNameSet", 2, firstName="X")
    )
    assert plan.status == "stale"
    assert plan.messages == ()


# --- messageIds of deltas -------------------------------------------------------------


def test_delta_ids_deterministic_and_distinct() -> None:
    state = _state()
    first = plan_event(_event("CustomerFirstNameSet", 2, firstName="A"), state)
    again = plan_event(_event("CustomerFirstNameSet", 2, firstName="A"), state)
    last = plan_event(_event("CustomerLastNameSet", 2, lastName="B"), state)
    later = plan_event(_event("CustomerFirstNameSet", 3, firstName="A"), state)
    ids = [p.messages[0].message_id for p in (first, again, last, later)]
    assert ids[0] == ids[1], "a redelivery of one message must keep its messageId"
    assert len({ids[0], ids[2], ids[3]}) == 3


def test_messages_of_one_update_get_distinct_ids() -> None:
    """One update with two actions of one kind: same version and type, next sequenceNumber."""
    state = _state()
    one, two = (
        dataclasses.replace(_event("CustomerFirstNameSet", 2, firstName=n), sequence_number=s)
        for n, s in (("A", 4), ("B", 5))
    )
    redelivered = dataclasses.replace(one, message_id="a-different-delivery-id")
    ids = [plan_event(e, state).messages[0].message_id for e in (one, two, redelivered)]
    assert ids[0] != ids[1]
    assert ids[0] == ids[2], "the sequenceNumber, not the delivery, decides"


def test_unversioned_delta_id_follows_message_id() -> None:
    state = _state()
    a = plan_event(_event("CustomerFirstNameSet", None, message_id="m-a", firstName="A"), state)
    b = plan_event(_event("CustomerFirstNameSet", None, message_id="m-b", firstName="A"), state)
    a2 = plan_event(_event("CustomerFirstNameSet", None, message_id="m-a", firstName="A"), state)
    assert a.messages[0].message_id == a2.messages[0].message_id != b.messages[0].message_id
