"""The durable store: events, outbox, dead letters, identities, cursors.

SQLite (embedded, the default) and PostgreSQL (shared) behind one interface.
"""

from __future__ import annotations

from ctsync.store._base import Conn, Row, Store, storable_text

__all__ = ["Conn", "Row", "Store", "open_store", "storable_text"]


def open_store(url: str, *, timeout: float = 5.0) -> Store:
    """The store a ``DATABASE_URL`` names (``sqlite:///...`` or ``postgres(ql)://...``)."""
    # Imported here so that a SQLite deployment never pays for importing psycopg,
    # and a serverless cold start only for the driver it uses.
    if url.startswith("sqlite:"):
        from ctsync.store._sqlite import SqliteStore  # noqa: PLC0415

        return SqliteStore(url, timeout=timeout)
    from ctsync.store._postgres import PostgresStore  # noqa: PLC0415

    return PostgresStore(url, timeout=timeout)
