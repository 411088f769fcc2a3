"""Lenient models of the commercetools resources ctsync reads.

Field names are commercetools' own (camelCase), so a model validates the JSON
the API or a message carries as it is. Every field is optional except the id,
and unknown fields are kept (``extra="allow"``): a new commercetools field
never breaks parsing, while a field of the wrong type does (ValidationError).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Address", "Customer", "LineItem", "Money", "Order"]

# defer_build: each model's validator is built when it first validates, not at import
# (the cold start; an order model is built by the first order message).
_LENIENT = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


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


class Money(BaseModel):
    """An amount as commercetools gives it: integer cents and their number of fraction digits."""

    model_config = _LENIENT

    currencyCode: str | None = None
    centAmount: int = Field(strict=True)  # "12.00" or 12.5 is no amount of cents
    fractionDigits: int = Field(default=2, ge=0, le=20, strict=True)


class TaxedPrice(BaseModel):
    """An order's totals after tax."""

    model_config = _LENIENT

    totalNet: Money | None = None
    totalGross: Money | None = None
    totalTax: Money | None = None


class Price(BaseModel):
    """A line item's unit price, with the product discount when one applies."""

    model_config = _LENIENT

    value: Money | None = None
    discounted: dict[str, Any] | None = None


class Variant(BaseModel):
    """The product variant a line item holds."""

    model_config = _LENIENT

    id: int | None = None
    sku: str | None = None
    key: str | None = None
    images: list[dict[str, Any]] | None = None
    attributes: list[dict[str, Any]] | None = None


class LineItem(BaseModel):
    """One line of an order."""

    model_config = _LENIENT

    id: str | None = None
    productId: str | None = None
    productKey: str | None = None
    name: dict[str, str] | str | None = None
    variant: Variant | None = None
    price: Price | None = None
    quantity: int = 1
    totalPrice: Money | None = None


class Order(BaseModel):
    """The order fields the "Order Completed" mapping reads; everything else is kept as extra."""

    model_config = _LENIENT

    id: str
    version: int | None = None
    orderNumber: str | None = None
    customerId: str | None = None
    customerEmail: str | None = None
    anonymousId: str | None = None
    locale: str | None = None
    lineItems: list[LineItem] = Field(default_factory=list)
    totalPrice: Money | None = None
    taxedPrice: TaxedPrice | None = None
    shippingInfo: dict[str, Any] | None = None
    discountCodes: list[dict[str, Any]] | None = None
    discountOnTotalPrice: dict[str, Any] | None = None
    orderState: str | None = None
    paymentState: str | None = None
    shipmentState: str | None = None
    createdAt: str | None = None
    lastModifiedAt: str | None = None

    @field_validator("lineItems", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value
