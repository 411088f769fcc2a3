"""The store's seam: a ``Store`` runs a function inside a transaction on a ``Conn``.

Drivers (SQLite, PostgreSQL) implement ``Store``; everything else talks to the
database only through the named queries on ``Conn`` (procrastinate's shape:
the connector is the only thing that touches the driver).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from ctsync.store._queries import Dialect

T = TypeVar("T")
Row = dict[str, Any]


class Conn(Protocol):
    """One open transaction; every statement is a named block from queries.sql."""

    dialect: Dialect

    def one(self, query: str, **params: Any) -> Row | None:
        """Run a query and return its first row, or None."""
        ...

    def all(self, query: str, **params: Any) -> list[Row]:
        """Run a query and return every row."""
        ...

    def run(self, query: str, **params: Any) -> int:
        """Run a statement and return how many rows it changed."""
        ...

    def many(self, query: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Run a statement once per parameter set; return the rows changed in all."""
        ...


class Store(Protocol):
    """A durable store: SQLite (embedded) or PostgreSQL (shared by many processes)."""

    dialect: Dialect
    url_for_display: str

    def write(self, fn: Callable[[Conn], T]) -> T:
        """Run ``fn`` in a write transaction, committed durably before returning."""
        ...

    def read(self, fn: Callable[[Conn], T]) -> T:
        """Run ``fn`` in a read-only transaction."""
        ...

    async def awrite(self, fn: Callable[[Conn], T], *, durable: bool = True) -> T:
        """``write`` for the event loop: waits without blocking it.

        ``durable=False`` is for bookkeeping that is safe to lose in a database crash
        (claims and delivery outcomes: a lost one means a message is sent again, with
        the same messageId); a store may then skip waiting for the disk (SQLite:
        ``synchronous=NORMAL`` for a group of such writes; PostgreSQL:
        ``synchronous_commit=off``). A durable commit after them covers them too.
        """
        ...

    def migrate(self) -> list[int]:
        """Apply pending migrations (safe when several processes start at once)."""
        ...

    def close(self) -> None:
        """Release connections and threads."""
        ...


def storable_text(text: str) -> str:
    """Free text from outside (a reason quoting a delivery, a sink's answer) as every
    store can keep it: PostgreSQL refuses a NUL in text and a lone surrogate in
    UTF-8, and either refusal would repeat on every redelivery.
    """
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
