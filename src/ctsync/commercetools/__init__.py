"""commercetools: the resources ctsync reads and the thin HTTP API client that reads them."""

from __future__ import annotations

from ctsync.commercetools._client import ApiConfig, CommercetoolsClient, Page, RetryOptions
from ctsync.commercetools._errors import AuthFailed, NotFound
from ctsync.commercetools._models import Address, Customer, Order

__all__ = [
    "Address",
    "ApiConfig",
    "AuthFailed",
    "CommercetoolsClient",
    "Customer",
    "NotFound",
    "Order",
    "Page",
    "RetryOptions",
]
