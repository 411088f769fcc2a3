"""What a changed mapping file sends: renamed, dropped and expression traits, choices, calls."""

from __future__ import annotations

from typing import Any

import pytest

from ctsync.mapping import IdentityState, MappingOptions, plan_customer_read
from ctsync.mapping.file import parse_mapping
from tests.unit.mapping_support import CID, EMAIL, PROJECT, _customer, _event, _run

# A customer with a custom type holding a field of each commercetools type.
CUSTOM = {
    "type": {"typeId": "type", "id": "t-1"},
    "fields": {
        "tier": "gold",  # String
        "points": 1250,  # Number
        "newsletter": True,  # Boolean
        "segment": {"key": "vip", "label": "VIP"},  # Enum
        "channel": {"key": "web", "label": {"en": "Web", "de": "Web"}},  # LocalizedEnum
        "nickname": {"en": "Jay", "de": "Jay"},  # LocalizedString
        "interests": ["wine", "cheese"],  # Set of String
        "memberSince": "2019-04-01",  # Date
        "credit": {  # Money
            "type": "centPrecision",
            "currencyCode": "EUR",
            "centAmount": 1999,
            "fractionDigits": 2,
        },
        "favouriteStore": {"typeId": "store", "id": "s-9"},  # Reference
        "emptyNote": "",
    },
}
ADDRESSES = [
    {"id": "a1", "key": "office", "country": "DE", "city": "Berlin", "phone": "030 1234567"},
    {"id": "a2", "key": "home", "country": "FR", "city": "Paris"},
    {"id": "a3", "city": "Hamburg", "mobile": "0171 2345678"},
]

MAPPING = """\
version: shop-2
traits:
  email: {builtin: email}
  first_name: {builtin: firstName}
  name: {builtin: name}
  address: {builtin: address}
  phone: {builtin: phone}
  tier: {jmespath: custom.fields.tier}
  points: {jmespath: custom.fields.points}
  newsletter: {jmespath: custom.fields.newsletter}
  segment: {jmespath: custom.fields.segment.key}
  channel: {jmespath: custom.fields.channel.label.en}
  nickname: {jmespath: custom.fields.nickname.de}
  interests: {jmespath: custom.fields.interests}
  memberSince: {jmespath: custom.fields.memberSince}
  credit: {jmespath: custom.fields.credit.centAmount}
  favouriteStore: {jmespath: custom.fields.favouriteStore.id}
  note: {jmespath: custom.fields.emptyNote}
  group: {jmespath: customerGroup.id}
  stores: {jmespath: "stores[].key"}
  homeCity: {jmespath: "addresses[?key=='home'] | [0].city"}
  billingCities: {jmespath: "billingAddresses[].city"}
  shippingCity: {jmespath: defaultShippingAddress.city}
  missing: {jmespath: custom.fields.nothing}
"""


def _options(text: str = MAPPING) -> MappingOptions:
    return parse_mapping(text, "m.yaml")


def _rich(**fields: Any) -> dict[str, Any]:
    rich: dict[str, Any] = {
        "custom": CUSTOM,
        "customerGroup": {"typeId": "customer-group", "id": "g-gold"},
        "stores": [{"typeId": "store", "key": "berlin"}, {"typeId": "store", "key": "paris"}],
        "addresses": ADDRESSES,
        "billingAddressIds": ["a1", "a3"],
        "shippingAddressIds": ["a2"],
        "defaultShippingAddressId": "a2",
    }
    return _customer(**{**rich, **fields})


def _traits(plan: Any) -> dict[str, Any]:
    assert plan.status == "accepted", plan.reason
    return dict(plan.messages[-1].body["traits"])


def test_snapshot_sends_the_files_traits_in_its_order_under_its_names() -> None:
    traits = _traits(plan_customer_read(PROJECT, _rich(), None, _options()))
    assert list(traits) == [
        "email", "first_name", "name", "address",
        "tier", "points", "newsletter", "segment", "channel", "nickname", "interests",
        "memberSince", "credit", "favouriteStore", "group", "stores", "homeCity",
        "billingCities", "shippingCity",
    ]  # fmt: skip
    assert traits["first_name"] == "Jane"
    assert traits["tier"] == "gold"
    assert traits["points"] == 1250
    assert traits["newsletter"] is True
    assert traits["segment"] == "vip"
    assert traits["channel"] == "Web"
    assert traits["interests"] == ["wine", "cheese"]
    assert traits["credit"] == 1999
    assert traits["group"] == "g-gold"
    assert traits["stores"] == ["berlin", "paris"]
    assert traits["homeCity"] == "Paris"
    assert traits["billingCities"] == ["Berlin", "Hamburg"]
    assert traits["shippingCity"] == "Paris"
    assert "note" not in traits  # "" is no value
    assert "missing" not in traits
    # address and phone follow the default choice: shipping (no billing default set)
    assert traits["address"] == {"city": "Paris", "country": "FR"}


def test_delta_sends_renamed_traits_and_skips_dropped_ones() -> None:
    options = _options()
    state = plan_customer_read(PROJECT, _rich(), None, options).state
    plan = _run(state, _event("CustomerFirstNameSet", 2, firstName="Janet"), options=options)
    assert _traits(plan) == {"first_name": "Janet", "name": "Janet Doe"}
    dropped = _run(
        state, _event("CustomerDateOfBirthSet", 2, dateOfBirth="1991-01-01"), options=options
    )
    assert dropped.status == "ignored"
    assert "shop-2" in (dropped.reason or "")
    assert dropped.state is not None
    assert dropped.state.traits["birthday"] == "1991-01-01"  # kept, not sent


def test_clearing_a_renamed_trait_sends_null_under_its_new_name() -> None:
    options = _options()
    state = plan_customer_read(PROJECT, _rich(), None, options).state
    plan = _run(state, _event("CustomerFirstNameSet", 2), options=options)
    assert _traits(plan) == {"first_name": None, "name": "Doe"}


def test_expression_traits_have_the_per_trait_stale_guard() -> None:
    options = _options()
    state = plan_customer_read(PROJECT, _rich(version=5), None, options).state
    older = {**CUSTOM, "fields": {**CUSTOM["fields"], "tier": "silver"}}
    plan = plan_customer_read(PROJECT, _rich(version=4, custom=older), state, options)
    assert plan.status == "stale"
    newer = plan_customer_read(PROJECT, _rich(version=6, custom=older), state, options)
    assert _traits(newer)["tier"] == "silver"


def test_email_change_identify_carries_the_expression_traits() -> None:
    options = _options()
    state = plan_customer_read(PROJECT, _rich(), None, options).state
    plan = _run(state, _event("CustomerEmailChanged", 2, email="new@example.com"), options=options)
    assert [m.type for m in plan.messages] == ["alias", "identify"]
    traits = _traits(plan)
    assert traits["email"] == "new@example.com"
    assert traits["tier"] == "gold"
    assert "$tier" not in traits
    assert "lastName" not in traits  # not in the file


@pytest.mark.parametrize(
    ("choose", "city"),
    [
        ("[defaultBilling, defaultShipping, first]", "Paris"),
        ("['key:office', first]", "Berlin"),
        ("['key:nowhere', first]", "Berlin"),
        ("['key:nowhere']", None),
        ("[first]", "Berlin"),
    ],
)
def test_address_choice(choose: str, city: str | None) -> None:
    options = _options(f"version: 1\naddress:\n  choose: {choose}\n")
    traits = _traits(plan_customer_read(PROJECT, _rich(), None, options))
    assert (traits.get("address") or {}).get("city") == city


def test_phone_default_region_reads_numbers_of_addresses_without_a_country() -> None:
    text = "version: 1\naddress:\n  choose: [first]\nphone:\n  default_region: {}\n"
    customer = _customer(addresses=[ADDRESSES[2]])
    without = _traits(plan_customer_read(PROJECT, customer, None, _options("version: 1\n")))
    assert "phone" not in without
    with_de = plan_customer_read(PROJECT, customer, None, _options(text.format("DE")))
    assert _traits(with_de)["phone"] == "+491712345678"


def test_an_ignored_type_sends_nothing_and_keeps_the_state() -> None:
    options = _options("version: 3\nmessages:\n  CustomerFirstNameSet: ignore\n")
    state = plan_customer_read(PROJECT, _customer(), None, options).state
    plan = _run(state, _event("CustomerFirstNameSet", 2, firstName="Janet"), options=options)
    assert plan.status == "ignored"
    assert plan.messages == ()
    assert plan.state is not None
    assert plan.state.traits["firstName"] == "Janet"


def test_customer_id_identity_and_deleted_event_name() -> None:
    options = _options(
        "version: 4\nidentity: customer_id\nmessages:\n  CustomerDeleted: {track: Account Closed}\n"
    )
    state = plan_customer_read(PROJECT, _customer(), None, options).state
    assert isinstance(state, IdentityState)
    assert state.user_id == CID
    plan = _run(state, _event("CustomerDeleted", 3, email=EMAIL), options=options)
    assert plan.messages[0].body["event"] == "Account Closed"
    assert plan.messages[0].user_id == CID
