"""The trait set of a full customer: names, email, dates, company, address, phone."""

from __future__ import annotations

from typing import Any

import pytest

from ctsync.commercetools import Customer
from ctsync.mapping import customer_traits, normalize_email

CID = "c-1"
CREATED = "2024-01-01T10:00:00.000Z"


def _customer(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": CID,
        "version": 1,
        "email": "jane@example.com",
        "createdAt": CREATED,
    }
    base.update(fields)
    return base


def _traits(**fields: Any) -> dict[str, Any]:
    return customer_traits(Customer.model_validate(_customer(**fields)))


# --- traits ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"firstName": "Jane", "lastName": "Doe"},
            {"firstName": "Jane", "lastName": "Doe", "name": "Jane Doe"},
            id="both-names",
        ),
        pytest.param({"firstName": "Jane"}, {"firstName": "Jane", "name": "Jane"}, id="first-only"),
        pytest.param({"lastName": "Doe"}, {"lastName": "Doe", "name": "Doe"}, id="last-only"),
        pytest.param({}, {}, id="no-names"),
        pytest.param({"firstName": None, "lastName": None}, {}, id="null-names"),
        pytest.param({"firstName": "", "lastName": "  "}, {}, id="empty-names"),
        pytest.param(
            {"firstName": " Jane ", "lastName": "Doe "},
            {"firstName": "Jane", "lastName": "Doe", "name": "Jane Doe"},
            id="padded-names",
        ),
    ],
)
def test_name_traits(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    traits = _traits(**fields)
    assert {k: traits[k] for k in ("firstName", "lastName", "name") if k in traits} == expected


@pytest.mark.parametrize(
    ("fields", "key", "expected"),
    [
        pytest.param(
            {"email": "  Jane.Doe@Example.COM "}, "email", "jane.doe@example.com", id="email"
        ),
        pytest.param({"dateOfBirth": "1990-05-17"}, "birthday", "1990-05-17", id="birthday"),
        pytest.param({"dateOfBirth": "17.05.1990"}, "birthday", None, id="birthday-not-a-date"),
        pytest.param({"dateOfBirth": ""}, "birthday", None, id="birthday-empty"),
        pytest.param({"companyName": "ACME"}, "company", {"name": "ACME"}, id="company"),
        pytest.param({"companyName": ""}, "company", None, id="company-empty"),
        pytest.param({"companyName": None}, "company", None, id="company-null"),
        pytest.param({"createdAt": None}, "createdAt", None, id="created-null"),
        pytest.param({}, "createdAt", CREATED, id="created"),
        pytest.param({}, "commercetoolsCustomerId", CID, id="customer-id"),
        pytest.param({"title": "Dr."}, "title", None, id="title-not-mapped"),
    ],
)
def test_single_traits(fields: dict[str, Any], key: str, expected: Any) -> None:
    assert _traits(**fields).get(key) == expected


def test_normalize_email() -> None:
    assert normalize_email("  MiXed@Case.Example ") == "mixed@case.example"


_A1 = {
    "id": "a1",
    "country": "DE",
    "streetName": "Hauptstr.",
    "streetNumber": "5",
    "city": "Berlin",
}
_A2 = {"id": "a2", "country": "FR", "city": "Paris", "postalCode": "75001"}
_A3 = {"id": "a3", "country": "US", "city": "Austin", "state": "TX"}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, None, id="no-addresses"),
        pytest.param({"addresses": None}, None, id="null-addresses"),
        pytest.param(
            {"addresses": [{"id": "a", "country": "DE"}]}, {"country": "DE"}, id="country-only"
        ),
        pytest.param({"addresses": [{"id": "a", "country": ""}]}, None, id="all-empty"),
        pytest.param(
            {"addresses": [_A1]},
            {"street": "Hauptstr. 5", "city": "Berlin", "country": "DE"},
            id="street-name-and-number",
        ),
        pytest.param(
            {"addresses": [{"country": "DE", "streetName": "Hauptstr.", "streetNumber": None}]},
            {"street": "Hauptstr.", "country": "DE"},
            id="street-name-only",
        ),
        pytest.param(
            {"addresses": [{"country": "DE", "streetNumber": "5", "city": ""}]},
            {"street": "5", "country": "DE"},
            id="street-number-only",
        ),
        pytest.param(
            {"addresses": [{"country": "US", "state": "TX", "region": "South"}]},
            {"state": "TX", "country": "US"},
            id="state-wins-over-region",
        ),
        pytest.param(
            {"addresses": [{"country": "DE", "state": "", "region": "Bayern"}]},
            {"state": "Bayern", "country": "DE"},
            id="region-when-no-state",
        ),
        pytest.param(
            {"addresses": [_A1, _A2, _A3]},
            {"street": "Hauptstr. 5", "city": "Berlin", "country": "DE"},
            id="several-no-default-first",
        ),
        pytest.param(
            {"addresses": [_A1, _A2, _A3], "defaultShippingAddressId": "a2"},
            {"city": "Paris", "postalCode": "75001", "country": "FR"},
            id="default-shipping-only",
        ),
        pytest.param(
            {
                "addresses": [_A1, _A2, _A3],
                "defaultShippingAddressId": "a2",
                "defaultBillingAddressId": "a3",
            },
            {"city": "Austin", "state": "TX", "country": "US"},
            id="billing-wins-over-shipping",
        ),
        pytest.param(
            {"addresses": [_A1, _A2], "defaultBillingAddressId": "gone"},
            {"street": "Hauptstr. 5", "city": "Berlin", "country": "DE"},
            id="dangling-default-falls-back",
        ),
    ],
)
def test_address_trait(fields: dict[str, Any], expected: dict[str, Any] | None) -> None:
    assert _traits(**fields).get("address") == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param({"country": "DE", "phone": "030 1234567"}, "+49301234567", id="national"),
        pytest.param(
            {"country": "de", "phone": "0171 1234567"}, "+491711234567", id="lower-country"
        ),
        pytest.param(
            {"country": "DE", "mobile": "+1 415 555 2671"}, "+14155552671", id="mobile-fallback"
        ),
        pytest.param(
            {"country": "DE", "phone": "+49 30 1234567", "mobile": "+1 415 555 2671"},
            "+49301234567",
            id="phone-before-mobile",
        ),
        pytest.param({"country": "DE", "phone": "call me maybe"}, None, id="unparseable"),
        pytest.param({"country": "DE", "phone": "+49 1"}, None, id="too-short"),
        pytest.param(
            {"country": "DE", "phone": "n/a", "mobile": "0171 1234567"},
            "+491711234567",
            id="unparseable-phone-then-mobile",
        ),
        pytest.param({"phone": "+44 20 7946 0958"}, "+442079460958", id="no-country-intl"),
        pytest.param({"phone": "030 1234567"}, None, id="no-country-national"),
        pytest.param({"country": "ZZ", "phone": "030 1234567"}, None, id="unknown-country"),
        pytest.param({"country": "DE", "phone": ""}, None, id="empty"),
    ],
)
def test_phone_trait(address: dict[str, Any], expected: str | None) -> None:
    assert _traits(addresses=[address]).get("phone") == expected
