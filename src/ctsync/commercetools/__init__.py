"""commercetools resources as ctsync reads them (the API client comes later)."""

from __future__ import annotations

from ctsync.commercetools._models import Address, Customer, Order

__all__ = ["Address", "Customer", "Order"]
