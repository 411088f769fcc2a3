"""Expression traits: JMESPath over the customer, as the mapping file declares them."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jmespath.parser import ParsedResult

__all__ = ["compile_expression", "expression_traits", "search_document"]


@functools.cache
def compile_expression(source: str) -> ParsedResult:
    """The compiled expression (cached: the mapping file's few are compiled once)."""
    import jmespath  # noqa: PLC0415 - only a mapping file declares expressions; keeps cold start lean

    return jmespath.compile(source)


def search_document(customer: dict[str, Any]) -> dict[str, Any]:
    """The customer as expressions see it: its own fields plus the addresses by role.

    commercetools keeps roles as id lists (billingAddressIds, defaultBillingAddressId),
    which JMESPath cannot join; these keys give them directly, unless the customer
    has fields of those names itself.
    """
    addresses = [a for a in customer.get("addresses") or [] if isinstance(a, dict)]
    by_id = {a.get("id"): a for a in addresses if a.get("id")}

    def pick(ids: Any) -> list[dict[str, Any]]:
        return [by_id[i] for i in ids if i in by_id] if isinstance(ids, list) else []

    derived = {
        "defaultBillingAddress": by_id.get(customer.get("defaultBillingAddressId")),
        "defaultShippingAddress": by_id.get(customer.get("defaultShippingAddressId")),
        "billingAddresses": pick(customer.get("billingAddressIds")),
        "shippingAddresses": pick(customer.get("shippingAddressIds")),
    }
    return {**derived, **customer}


def expression_traits(expressions: dict[str, str], customer: dict[str, Any]) -> dict[str, Any]:
    """Each expression's value over the customer; None (absent) for null or "" results."""
    document = search_document(customer)
    values: dict[str, Any] = {}
    for key, source in expressions.items():
        value = compile_expression(source).search(document)
        values[key] = None if value == "" else value
    return values
