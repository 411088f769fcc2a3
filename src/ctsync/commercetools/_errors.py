"""The commercetools API's own failures, as branches of ctsync's error tree.

PermanentError
 +-- NotFound      the resource does not exist (any more): HTTP 404
 +-- AuthFailed    credentials refused, or a scope missing: HTTP 400/401/403
RetryableError     429, 5xx, network and timeouts, once the client's retries are spent
"""

from __future__ import annotations

from ctsync.errors import PermanentError

__all__ = ["AuthFailed", "NotFound"]


class NotFound(PermanentError):
    """The resource does not exist (deleted since it was announced, or never)."""


class AuthFailed(PermanentError):
    """commercetools refused the client credentials or the call's scope."""
