"""Customer fields -> Segment's reserved Identify traits (DESIGN.md "Mapping rules")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from ctsync.commercetools import Address, Customer
from ctsync.mapping._phone import to_e164
from ctsync.mapping._types import AddressChoice, MappingOptions

__all__ = [
    "BOOK_TRAITS",
    "address_trait",
    "birthday",
    "book_traits",
    "choose_address",
    "company",
    "customer_traits",
    "full_name",
    "normalize_email",
    "phone_trait",
    "text",
]

BOOK_TRAITS = ("address", "phone")
"""The traits computed from the address book and its default ids."""

_DEFAULT_OPTIONS = MappingOptions()


def normalize_email(value: str) -> str:
    """The email as ctsync keys on it: trimmed and lower-cased."""
    return value.strip().lower()


def text(value: str | None) -> str | None:
    """``value`` trimmed, or None when it has no content."""
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def full_name(first: str | None, last: str | None) -> str | None:
    """The full name: first and last joined by a space, or the one present, or None."""
    return " ".join(part for part in (first, last) if part) or None


def birthday(value: str | None) -> str | None:
    """A commercetools dateOfBirth as YYYY-MM-DD; None when absent or not a date."""
    raw = text(value)
    if raw is None:
        return None
    try:
        return dt.date.fromisoformat(raw[:10]).isoformat()
    except ValueError:
        return None


def company(name: str | None) -> dict[str, Any] | None:
    """Segment's ``company`` trait for a company name."""
    value = text(name)
    return {"name": value} if value else None


def choose_address(
    addresses: Sequence[Address],
    billing_id: str | None,
    shipping_id: str | None,
    choice: AddressChoice = _DEFAULT_OPTIONS.address_choice,
) -> Address | None:
    """The first address ``choice`` finds (default: billing, else shipping, else the first)."""
    by_id: dict[str | None, Address] = {a.id: a for a in addresses if a.id}
    for rule in choice:
        found = _choose(rule, addresses, by_id, billing_id, shipping_id)
        if found is not None:
            return found
    return None


def _choose(
    rule: str,
    addresses: Sequence[Address],
    by_id: dict[str | None, Address],
    billing_id: str | None,
    shipping_id: str | None,
) -> Address | None:
    if rule == "first":
        return addresses[0] if addresses else None
    if rule.startswith("key:"):
        return next((a for a in addresses if a.key == rule[4:]), None)
    wanted = billing_id if rule == "defaultBilling" else shipping_id
    return by_id.get(wanted) if wanted else None


def address_trait(address: Address) -> dict[str, Any] | None:
    """Segment's reserved ``address`` shape, without empty keys; None when all are empty."""
    street = full_name(text(address.streetName), text(address.streetNumber))
    fields = {
        "street": street,
        "city": text(address.city),
        "postalCode": text(address.postalCode),
        "state": text(address.state) or text(address.region),
        "country": text(address.country),
    }
    shaped = {key: value for key, value in fields.items() if value}
    return shaped or None


def phone_trait(address: Address, default_region: str | None = None) -> str | None:
    """The address's phone, else its mobile, in E.164; None when neither parses.

    Numbers are read with the address's country as region, else ``default_region``.
    """
    region = text(address.country) or default_region
    for raw in (address.phone, address.mobile):
        number = to_e164(raw, region)
        if number:
            return number
    return None


def book_traits(
    addresses: Sequence[Address],
    billing_id: str | None,
    shipping_id: str | None,
    options: MappingOptions = _DEFAULT_OPTIONS,
) -> dict[str, Any]:
    """The ``address`` and ``phone`` traits of an address book (only those with a value)."""
    chosen = choose_address(addresses, billing_id, shipping_id, options.address_choice)
    if chosen is None:
        return {}
    found = {
        "address": address_trait(chosen),
        "phone": phone_trait(chosen, options.phone_region),
    }
    return {key: value for key, value in found.items() if value is not None}


def customer_traits(
    customer: Customer, options: MappingOptions = _DEFAULT_OPTIONS
) -> dict[str, Any]:
    """The built-in traits of a customer snapshot; keys without a value are left out."""
    email = text(customer.email)
    first, last = text(customer.firstName), text(customer.lastName)
    book = book_traits(
        customer.addresses,
        customer.defaultBillingAddressId,
        customer.defaultShippingAddressId,
        options,
    )
    traits: dict[str, Any] = {
        "email": normalize_email(email) if email else None,
        "firstName": first,
        "lastName": last,
        "name": full_name(first, last),
        "birthday": birthday(customer.dateOfBirth),
        "company": company(customer.companyName),
        "phone": book.get("phone"),
        "createdAt": text(customer.createdAt),
        "commercetoolsCustomerId": customer.id,
        "address": book.get("address"),
    }
    return {key: value for key, value in traits.items() if value is not None}
