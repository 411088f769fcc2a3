"""Lenient models of the commercetools resources ctsync reads.

Field names are commercetools' own (camelCase), so a model validates the JSON
the API or a message carries as it is. Every field is optional except the id,
and unknown fields are kept (``extra="allow"``): a new commercetools field
never breaks parsing, while a field of the wrong type does (ValidationError).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Address", "Customer", "Order"]

_LENIENT = ConfigDict(extra="allow", populate_by_name=True)


class Address(BaseModel):
    """A postal address as commercetools stores it (BaseAddress)."""

    model_config = _LENIENT

    id: str | None = None
    key: str | None = None
    country: str | None = None
    streetName: str | None = None
    streetNumber: str | None = None
    additionalStreetInfo: str | None = None
    postalCode: str | None = None
    city: str | None = None
    region: str | None = None
    state: str | None = None
    company: str | None = None
    phone: str | None = None
    mobile: str | None = None
    email: str | None = None


class Customer(BaseModel):
    """The customer fields the mapping reads; everything else is kept as extra."""

    model_config = _LENIENT

    id: str
    version: int | None = None
    key: str | None = None
    email: str | None = None
    firstName: str | None = None
    middleName: str | None = None
    lastName: str | None = None
    title: str | None = None
    salutation: str | None = None
    dateOfBirth: str | None = None
    companyName: str | None = None
    vatId: str | None = None
    addresses: list[Address] = Field(default_factory=list)
    defaultBillingAddressId: str | None = None
    defaultShippingAddressId: str | None = None
    isEmailVerified: bool | None = None
    locale: str | None = None
    createdAt: str | None = None
    lastModifiedAt: str | None = None

    @field_validator("addresses", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class Order(BaseModel):
    """The order fields a later "Order Completed" mapping needs."""

    model_config = _LENIENT

    id: str
    version: int | None = None
    orderNumber: str | None = None
    customerId: str | None = None
    customerEmail: str | None = None
    lineItems: list[dict[str, Any]] = Field(default_factory=list)
    totalPrice: dict[str, Any] | None = None
    createdAt: str | None = None
    lastModifiedAt: str | None = None

    @field_validator("lineItems", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value
