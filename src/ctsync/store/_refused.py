"""A store that refuses every transaction, for a deployment that has no usable database.

On Vercel the filesystem does not outlive an invocation: a SQLite file there
would accept events and lose them. The function still starts (health, and a
503 that names the missing setting, so the sender retries until it is set).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ctsync.errors import StoreUnavailable
from ctsync.store._base import Conn
from ctsync.store._queries import Dialect

T = TypeVar("T")

NO_DATABASE_ON_VERCEL = (
    "DATABASE_URL (or POSTGRES_URL) is not set to a PostgreSQL database: on Vercel the"
    " filesystem does not outlive an invocation, so nothing is stored there; connect"
    " Neon or Vercel Postgres and redeploy"
)


class RefusingStore:
    """The ``Store`` of a deployment without a database: every use is a StoreUnavailable."""

    dialect: Dialect = "postgres"

    def __init__(self, reason: str) -> None:
        self.url_for_display = "(none)"
        self._reason = reason

    def write(self, fn: Callable[[Conn], T]) -> T:
        raise StoreUnavailable(self._reason)

    def read(self, fn: Callable[[Conn], T]) -> T:
        raise StoreUnavailable(self._reason)

    async def awrite(self, fn: Callable[[Conn], T], *, durable: bool = True) -> T:
        raise StoreUnavailable(self._reason)

    def migrate(self) -> list[int]:
        """Nothing to migrate: the function starts, and every transaction is refused."""
        return []

    def close(self) -> None:
        """Nothing to release."""
