"""Orders -> Segment e-commerce v2 Track events: "Order Completed", state changes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ctsync import __version__
from ctsync.commercetools._models import LineItem, Money, Order
from ctsync.mapping._common import UnmappableError
from ctsync.mapping._ids import track_id
from ctsync.mapping._money import amount, as_number
from ctsync.mapping._traits import normalize_email, text
from ctsync.mapping._types import IdentityState, MappingOptions, Plan, SegmentMessage

__all__ = [
    "ORDER_TYPES",
    "STATE_FIELDS",
    "order_completed_properties",
    "plan_order",
    "plan_order_state",
]

ORDER_TYPES = frozenset({"OrderCreated", "OrderImported"})
STATE_FIELDS = {
    "OrderStateChanged": ("orderState", "oldOrderState"),
    "OrderPaymentStateChanged": ("paymentState", "oldPaymentState"),
    "OrderShipmentStateChanged": ("shipmentState", "oldShipmentState"),
}
_ANONYMOUS = "anonymousId"  # kept in the order's identity row, for its later state changes


def plan_order(
    project_key: str,
    raw: Any,
    event_name: str,
    state: IdentityState | None,
    options: MappingOptions,
    *,
    fallback_id: str | None = None,
    timestamp: str | None = None,
) -> Plan:
    """An order (from OrderCreated, OrderImported or a read) -> Track ``event_name``.

    ``state`` is what ctsync knows of the order's buyer: the order's own identity
    row, or its customer's (by customerId), for orders that name no email.
    """
    if not isinstance(raw, dict):
        msg = "'order' must be an object (the full order)"
        raise UnmappableError(msg)
    order = Order.model_validate({"id": fallback_id, **raw} if fallback_id else raw)
    user_id, anonymous_id = _buyer(order, state, options)
    if user_id is None and anonymous_id is None:
        reason = (
            "the order names no buyer ctsync can identify (customerEmail, a known "
            "customerId or anonymousId): Segment needs a userId or an anonymousId"
        )
        if order.customerId and options.identity == "email":
            reason = (
                "the order's customer has no email ctsync knows yet: replay this event "
                "once the customer was synced (or set CTP_* so ctsync can read it)"
            )
            return Plan("failed", reason=reason)
        return Plan("ignored", reason=reason)
    properties = order_completed_properties(order)
    message = _track(
        project_key,
        event_name,
        order.id,
        user_id,
        anonymous_id,
        order.createdAt or timestamp,
        properties,
    )
    kept = IdentityState(customer_id=order.id, user_id=user_id, version=order.version)
    if anonymous_id:
        kept.traits[_ANONYMOUS] = anonymous_id
    return Plan("accepted", (message,), kept, user_id=user_id)


def plan_order_state(
    project_key: str,
    order_id: str,
    message_type: str,
    payload: dict[str, Any],
    state: IdentityState | None,
    options: MappingOptions,
    timestamp: str | None,
) -> Plan:
    """OrderStateChanged and its kind -> the Track the mapping names for the new state."""
    field, old_field = STATE_FIELDS[message_type]
    new_state = payload.get(field)
    names = {s: n for t, s, n in options.state_events if t == message_type}
    if not isinstance(new_state, str) or new_state not in names:
        reason = f"the mapping ({options.version}) sends no event for {message_type} to {new_state}"
        return Plan("ignored", reason=reason)
    anonymous_id = state.traits.get(_ANONYMOUS) if state else None
    if state is None or not (state.user_id or anonymous_id):
        reason = f"ctsync has not seen this order's OrderCreated yet: {message_type} waits for it"
        return Plan("waiting", reason=reason)
    properties: dict[str, Any] = {"order_id": order_id, field: new_state}
    if isinstance(payload.get(old_field), str):
        properties[old_field] = payload[old_field]
    event = names[new_state]
    message = _track(
        project_key, event, order_id, state.user_id, anonymous_id, timestamp, properties
    )
    return Plan("accepted", (message,), user_id=state.user_id)


def _buyer(
    order: Order, state: IdentityState | None, options: MappingOptions
) -> tuple[str | None, str | None]:
    """(userId, anonymousId) of the order by the identity strategy."""
    anonymous_id = text(order.anonymousId)
    email = text(order.customerEmail)
    if options.identity == "customer_id":
        user_id = text(order.customerId)
    elif email:
        user_id = normalize_email(email)
    else:
        user_id = state.user_id if state and order.customerId else None
    return user_id, anonymous_id


def order_completed_properties(order: Order) -> dict[str, Any]:
    """Segment's e-commerce v2 "Order Completed" properties, money exact."""
    if order.totalPrice is None:
        msg = "'order.totalPrice' is missing"
        raise UnmappableError(msg)
    gross = order.taxedPrice.totalGross if order.taxedPrice else None
    total = amount(gross or order.totalPrice) or Decimal(0)
    tax = _tax(order)
    shipping = _shipping(order)
    discount = sum((_line_discount(li) for li in order.lineItems), Decimal(0))
    discount += _order_discount(order)
    props: dict[str, Any] = {"order_id": order.id}
    if order.orderNumber:
        props["order_number"] = order.orderNumber
    props["total"] = as_number(total)
    props["revenue"] = as_number(total - (shipping or 0) - (tax or 0))
    if shipping is not None:
        props["shipping"] = as_number(shipping)
    if tax is not None:
        props["tax"] = as_number(tax)
    props["discount"] = as_number(discount)
    coupon = _coupon(order)
    if coupon:
        props["coupon"] = coupon
    props["currency"] = order.totalPrice.currencyCode
    props["products"] = [_product(li, i, order.locale) for i, li in enumerate(order.lineItems)]
    return {k: v for k, v in props.items() if v is not None}


def _tax(order: Order) -> Decimal | None:
    taxed = order.taxedPrice
    if taxed is None:
        return None
    if taxed.totalTax is not None:
        return amount(taxed.totalTax)
    if taxed.totalGross is not None and taxed.totalNet is not None:
        return (amount(taxed.totalGross) or Decimal(0)) - (amount(taxed.totalNet) or Decimal(0))
    return None


def _shipping(order: Order) -> Decimal | None:
    info = order.shippingInfo or {}
    taxed = info.get("taxedPrice") if isinstance(info.get("taxedPrice"), dict) else None
    raw = (taxed or {}).get("totalGross") if order.taxedPrice else None
    return _money_field(raw or info.get("price"))


def _money_field(raw: Any) -> Decimal | None:
    return amount(Money.model_validate(raw)) if isinstance(raw, dict) else None


def _line_discount(item: LineItem) -> Decimal:
    """What discounts took off a line: unit price x quantity - its total (never negative)."""
    unit = amount(item.price.value) if item.price else None
    total = amount(item.totalPrice)
    if unit is None or total is None:
        return Decimal(0)
    return max(unit * item.quantity - total, Decimal(0))


def _order_discount(order: Order) -> Decimal:
    """A discount on the cart's total (commercetools' discountOnTotalPrice)."""
    raw = (order.discountOnTotalPrice or {}).get("discountedAmount")
    return _money_field(raw) or Decimal(0)


def _coupon(order: Order) -> str | None:
    """The discount codes' texts, when the order carries them expanded."""
    codes = []
    for entry in order.discountCodes or []:
        ref = entry.get("discountCode") if isinstance(entry, dict) else None
        obj = ref.get("obj") if isinstance(ref, dict) else None
        code = obj.get("code") if isinstance(obj, dict) else None
        if isinstance(code, str) and code:
            codes.append(code)
    return ",".join(codes) or None


def _product(item: LineItem, index: int, locale: str | None) -> dict[str, Any]:
    variant = item.variant
    unit = _unit_price(item)
    product: dict[str, Any] = {
        "product_id": item.productId,
        "sku": variant.sku if variant else None,
        "name": _localized(item.name, locale),
        "price": as_number(unit) if unit is not None else None,
        "quantity": item.quantity,
        "category": _category(item),
        "variant": (variant.key or (str(variant.id) if variant.id is not None else None))
        if variant
        else None,
        "position": index + 1,
        "image_url": _image(item),
    }
    return {k: v for k, v in product.items() if v is not None}


def _unit_price(item: LineItem) -> Decimal | None:
    """The unit price paid before cart discounts: the product-discounted one when set."""
    if item.price is None:
        return None
    discounted = (item.price.discounted or {}).get("value")
    return _money_field(discounted) if isinstance(discounted, dict) else amount(item.price.value)


def _localized(value: dict[str, str] | str | None, locale: str | None) -> str | None:
    """A LocalizedString in the order's locale, else its language, else English, else any."""
    if value is None or isinstance(value, str):
        return value
    for key in (locale, (locale or "").split("-")[0], "en"):
        if key and value.get(key):
            return value[key]
    return next((v for v in value.values() if v), None)


def _category(item: LineItem) -> str | None:
    """A variant attribute named ``category`` (its label or key when it is an enum)."""
    for attribute in (item.variant.attributes if item.variant else None) or []:
        if attribute.get("name") == "category":
            value = attribute.get("value")
            if isinstance(value, dict):
                value = value.get("label") or value.get("key")
            return value if isinstance(value, str) else None
    return None


def _image(item: LineItem) -> str | None:
    images = (item.variant.images if item.variant else None) or []
    url = images[0].get("url") if images and isinstance(images[0], dict) else None
    return url if isinstance(url, str) else None


def _track(
    project_key: str,
    event: str,
    order_id: str,
    user_id: str | None,
    anonymous_id: str | None,
    timestamp: str | None,
    properties: dict[str, Any],
) -> SegmentMessage:
    """A Track of ``event`` about one order: one messageId per (project, event, order)."""
    message_id = track_id(project_key, event, order_id)
    body: dict[str, Any] = {"type": "track", "messageId": message_id}
    if user_id:
        body["userId"] = user_id
    if anonymous_id:
        body["anonymousId"] = anonymous_id
    if timestamp:
        body["timestamp"] = timestamp
    body["event"] = event
    body["properties"] = properties
    body["context"] = {"library": {"name": "ctsync", "version": __version__}}
    return SegmentMessage("track", message_id, user_id or anonymous_id or "", body)
