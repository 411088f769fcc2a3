"""The errors ctsync raises, and how each is handled.

    CtsyncError
     +-- ConfigError          bad or missing configuration: the command exits non-zero
     +-- StoreError           the store cannot be reached or refused a write
     |    +-- StoreUnavailable   connection-level failure: the webhook answers 503
     +-- RetryableError       network, timeout, 429, 5xx: retried with backoff
     +-- PermanentError       other 4xx, a mapping error, an oversize message:
     |                        dead letter at once, with the reason
     +-- InputError           a request we will never be able to process (4xx)
          +-- PayloadTooLarge    body over the limit (413)
          +-- UnsupportedMediaType  content type no envelope uses (415)
          +-- Unauthorized       a configured sender check failed (401)

Foreign errors (httpx, psycopg, sqlite3) are translated once, at the edge that
calls them, with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CtsyncError",
    "InputError",
    "PayloadTooLarge",
    "PermanentError",
    "RetryableError",
    "StoreError",
    "StoreUnavailable",
    "Unauthorized",
    "UnsupportedMediaType",
]


class CtsyncError(Exception):
    """Base of every error ctsync raises on purpose."""


class ConfigError(CtsyncError):
    """The configuration is invalid or incomplete."""


class StoreError(CtsyncError):
    """The store failed an operation."""


class StoreUnavailable(StoreError):
    """The store cannot be reached; callers should answer 503 / retry later."""


class RetryableError(CtsyncError):
    """A transient failure toward a remote service; try again later."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
        response: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status_code = status_code
        self.response = response


class PermanentError(CtsyncError):
    """A failure that will not go away by retrying."""

    def __init__(
        self, message: str, *, status_code: int | None = None, response: str | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.response = response


class InputError(CtsyncError):
    """A request that can never be processed; answered with a 4xx and a message."""

    status_code = 400


class PayloadTooLarge(InputError):
    """The request body is over the size limit."""

    status_code = 413


class UnsupportedMediaType(InputError):
    """The content type is not one any supported envelope uses."""

    status_code = 415


class Unauthorized(InputError):
    """A configured sender check failed."""

    status_code = 401
