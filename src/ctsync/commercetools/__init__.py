"""commercetools: the resources ctsync reads and the thin HTTP API client that reads them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ctsync.commercetools._errors import AuthFailed, NotFound
from ctsync.commercetools._models import Address, Customer, Order

if TYPE_CHECKING:
    from ctsync.commercetools._client import ApiConfig, CommercetoolsClient, Page, RetryOptions

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

_CLIENT = frozenset({"ApiConfig", "CommercetoolsClient", "Page", "RetryOptions"})


def __getattr__(name: str) -> Any:
    """The API client's names, imported on first use: mapping a webhook needs only the models."""
    if name in _CLIENT:
        from ctsync.commercetools import _client  # noqa: PLC0415 - the cold start, see above

        return getattr(_client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
