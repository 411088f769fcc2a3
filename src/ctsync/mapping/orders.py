"""Orders read from the commercetools API (a backfill): the same "Order Completed" as messages.

A public module of its own (``ctsync.mapping`` exports the customer planners);
the backfill calls ``plan_order_read`` per order of a page.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from ctsync.mapping._common import UnmappableError, describe_validation
from ctsync.mapping._orders import plan_order
from ctsync.mapping._routes import route
from ctsync.mapping._shape import shape_plan
from ctsync.mapping._types import IdentityState, MappingOptions, Plan

__all__ = ["plan_order_read"]

_DEFAULT = MappingOptions()


def plan_order_read(
    project_key: str,
    order: dict[str, Any],
    buyer: IdentityState | None,
    options: MappingOptions = _DEFAULT,
) -> Plan:
    """An order as the API gives it -> the Track OrderCreated would have sent (same messageId).

    ``buyer``: the identity of the order's customer (by customerId), for orders
    without an email under the ``email`` strategy. Never raises on odd data.
    """
    name = dict(options.order_events).get("OrderCreated")
    if name is None:
        reason = f"the mapping ({options.version}) sends nothing for OrderCreated"
        return Plan("ignored", reason=reason, mapping_version=options.version)
    try:
        plan = plan_order(project_key, order, name, buyer, options)
    except ValidationError as exc:
        return Plan("failed", reason=f"order read: {describe_validation(exc)}")
    except (UnmappableError, TypeError, ValueError, KeyError, AttributeError) as exc:
        detail = str(exc) if isinstance(exc, UnmappableError) else type(exc).__name__
        return Plan("failed", reason=f"order read: {detail}")
    shaped = shape_plan(plan, "OrderCreated", options)
    if options.routes and shaped.messages:
        shaped = replace(shaped, destinations=route(options, project_key, {"order": order}))
    return shaped
