"""Builders of realistic commercetools orders and order messages, for tests."""

from __future__ import annotations

import uuid
from typing import Any

PROJECT = "shop-test"


def money(cents: int, currency: str = "EUR", digits: int = 2) -> dict[str, Any]:
    return {
        "type": "centPrecision",
        "currencyCode": currency,
        "centAmount": cents,
        "fractionDigits": digits,
    }


def line_item(
    sku: str,
    unit: int,
    quantity: int = 1,
    *,
    total: int | None = None,
    currency: str = "EUR",
    digits: int = 2,
    discounted: int | None = None,
    name: dict[str, str] | None = None,
    category: str | None = None,
    variant_key: str | None = None,
) -> dict[str, Any]:
    """A line item; ``total`` below unit x quantity means a cart discount applied to it."""
    price: dict[str, Any] = {"id": f"p-{sku}", "value": money(unit, currency, digits)}
    if discounted is not None:
        price["discounted"] = {
            "value": money(discounted, currency, digits),
            "discount": {"typeId": "product-discount", "id": "pd-1"},
        }
    effective = discounted if discounted is not None else unit
    attributes = [{"name": "color", "value": {"key": "black", "label": "Black"}}]
    if category:
        attributes.append({"name": "category", "value": category})
    return {
        "id": f"li-{sku}",
        "productId": f"prod-{sku}",
        "productKey": f"key-{sku}",
        "name": name or {"en": f"Product {sku}", "de": f"Produkt {sku}"},
        "productType": {"typeId": "product-type", "id": "pt-1"},
        "variant": {
            "id": 2,
            "sku": sku,
            "key": variant_key,
            "prices": [],
            "images": [{"url": f"https://img.example/{sku}.jpg", "dimensions": {"w": 1, "h": 1}}],
            "attributes": attributes,
        },
        "price": price,
        "quantity": quantity,
        "discountedPricePerQuantity": [],
        "taxRate": {"name": "19%", "amount": 0.19, "includedInPrice": True, "country": "DE"},
        "totalPrice": money(total if total is not None else effective * quantity, currency, digits),
        "state": [],
        "priceMode": "Platform",
        "lineItemMode": "Standard",
    }


def order(
    oid: str = "o-1",
    *,
    items: list[dict[str, Any]] | None = None,
    total: int | None = None,
    currency: str = "EUR",
    digits: int = 2,
    tax: int | None = None,
    shipping: int | None = None,
    email: str | None = "Jane.Doe@Example.com",
    customer_id: str | None = "c-1",
    anonymous_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    items = items if items is not None else [line_item("SKU-1", 1999, currency=currency)]
    lines = sum(i["totalPrice"]["centAmount"] for i in items)
    gross = total if total is not None else lines + (shipping or 0)
    base: dict[str, Any] = {
        "id": oid,
        "version": 1,
        "orderNumber": f"N-{oid}",
        "createdAt": "2026-11-02T09:30:00.000Z",
        "lastModifiedAt": "2026-11-02T09:30:00.000Z",
        "lineItems": items,
        "customLineItems": [],
        "totalPrice": money(gross, currency, digits),
        "orderState": "Open",
        "syncInfo": [],
        "origin": "Customer",
        "taxMode": "Platform",
        "inventoryMode": "None",
        "taxRoundingMode": "HalfEven",
        "locale": "de-DE",
    }
    if email is not None:
        base["customerEmail"] = email
    if customer_id is not None:
        base["customerId"] = customer_id
    if anonymous_id is not None:
        base["anonymousId"] = anonymous_id
    if tax is not None:
        base["taxedPrice"] = {
            "totalNet": money(gross - tax, currency, digits),
            "totalGross": money(gross, currency, digits),
            "totalTax": money(tax, currency, digits),
            "taxPortions": [],
        }
    if shipping is not None:
        base["shippingInfo"] = {
            "shippingMethodName": "Standard",
            "price": money(shipping, currency, digits),
            "shippingRate": {"price": money(shipping, currency, digits)},
            "shippingMethodState": "MatchesCart",
        }
    base.update(fields)
    return base


def order_message(
    mtype: str, oid: str = "o-1", *, version: int = 1, **fields: Any
) -> dict[str, Any]:
    return {
        "notificationType": "Message",
        "projectKey": PROJECT,
        "id": str(uuid.uuid4()),
        "version": 1,
        "sequenceNumber": version,
        "resource": {"typeId": "order", "id": oid},
        "resourceVersion": version,
        "resourceUserProvidedIdentifiers": {"orderNumber": f"N-{oid}"},
        "type": mtype,
        "createdAt": f"2026-11-02T09:30:{version:02d}.000Z",
        "lastModifiedAt": f"2026-11-02T09:30:{version:02d}.000Z",
        **fields,
    }


def order_created(oid: str = "o-1", **order_fields: Any) -> dict[str, Any]:
    return order_message("OrderCreated", oid, order=order(oid, **order_fields))
