"""The shared store: PostgreSQL through a psycopg 3 connection pool.

Any number of web replicas and workers use one database; claims take rows with
``FOR UPDATE SKIP LOCKED`` and migrations run under an advisory lock.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg.rows import dict_row

from ctsync.errors import StoreError, StoreUnavailable
from ctsync.store._base import Conn, Row
from ctsync.store._queries import Dialect, migrations, queries

T = TypeVar("T")
_THREADS = 4
_MIGRATION_LOCK = 0x63747379  # "ctsy": one advisory lock id for ctsync's migrations


def postgres_conninfo(url: str) -> str:
    """Accept ``postgres://``, ``postgresql://`` and SQLAlchemy's ``postgresql+driver://``."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


_SECRET_PARAMS = {"password", "sslpassword", "passfile", "sslkey"}


def display_url(url: str) -> str:
    """The URL without its password (in the user info or ``?password=``), for logs and ``check``.

    The user info ends at the *last* ``@`` of the authority, since a password may hold one.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}{':***' if colon else ''}@{host}"
    query = "&".join(
        f"{k}={'***' if k.lower() in _SECRET_PARAMS else quote(v, safe='')}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class _PgConn:
    dialect: Dialect = "postgres"

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self._conn = conn
        self._sql = queries("postgres")
        self.began = False  # a statement of the transaction's function was sent

    def one(self, query: str, **params: Any) -> Row | None:
        self.began = True
        return self._conn.execute(self._sql[query], params).fetchone()

    def all(self, query: str, **params: Any) -> list[Row]:
        self.began = True
        return self._conn.execute(self._sql[query], params).fetchall()

    def run(self, query: str, **params: Any) -> int:
        self.began = True
        return self._conn.execute(self._sql[query], params).rowcount

    def many(self, query: str, rows: Iterable[Mapping[str, Any]]) -> int:
        self.began = True
        rows = list(rows)
        if len(rows) == 1:  # executemany's pipeline costs more than it saves for one row
            return self._conn.execute(self._sql[query], rows[0]).rowcount
        with self._conn.cursor() as cur:
            cur.executemany(self._sql[query], rows)
            return cur.rowcount


class PostgresStore:
    """The PostgreSQL ``Store``."""

    dialect: Dialect = "postgres"

    def __init__(self, url: str, *, timeout: float = 5.0, max_size: int = 10) -> None:
        self.url_for_display = display_url(url)
        self._timeout = timeout
        # A few threads, not one per waiting request: more only contend for the GIL
        # (under the benchmark's load of 8 concurrent webhooks, 4 threads took 14 %
        # more requests than anyio's 40, with less CPU each and a lower p99).
        self._executor = ThreadPoolExecutor(_THREADS, thread_name_prefix="ctsync-pg")
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[Row]] = (
            psycopg_pool.ConnectionPool(
                postgres_conninfo(url),
                min_size=1,
                max_size=max_size,
                timeout=timeout,
                open=False,
                kwargs={
                    "row_factory": dict_row,
                    "connect_timeout": max(1, int(timeout)),
                    # No server-side prepared statements: through a transaction-mode
                    # pooler (Neon's and Vercel Postgres' pooled URLs, PgBouncer before
                    # 1.21) a statement prepared on one server connection is missing
                    # on the next. A pooler cannot be told from its URL, and planning
                    # our short statements costs little next to a round trip.
                    "prepare_threshold": None,
                },
                connection_class=psycopg.Connection[Row],
                # No check on every checkout (a round trip per transaction, a tenth of
                # a webhook's cost): _transaction retries a connection found dead.
                name="ctsync",
            )
        )
        try:
            self._pool.open(wait=False)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot open PostgreSQL pool: {exc}") from exc

    def write(self, fn: Callable[[Conn], T]) -> T:
        return self._transaction(fn)

    def read(self, fn: Callable[[Conn], T]) -> T:
        return self._transaction(fn)

    async def awrite(self, fn: Callable[[Conn], T], *, durable: bool = True) -> T:
        context = contextvars.copy_context()
        job = asyncio.get_running_loop().run_in_executor(
            self._executor, context.run, self._transaction, fn, durable
        )
        try:
            # The caller answers in time (a webhook: 503, so the sender retries); a
            # job that still commits later is found as a duplicate when redelivered.
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a
            # cancellation (Ctrl-C) that arrives as the job finishes.
            async with asyncio.timeout(2 * self._timeout):
                return await job
        except TimeoutError as exc:
            msg = f"PostgreSQL did not commit within {2 * self._timeout:g} s"
            raise StoreUnavailable(msg) from exc

    def migrate(self) -> list[int]:
        return self.write(_apply_migrations)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._pool.close()

    def _transaction(self, fn: Callable[[Conn], T], durable: bool = True) -> T:
        try:
            try:
                return self._attempt(fn, durable)
            except _DeadConnection:
                # The server restarted or dropped idle connections: replace every dead
                # one in the pool, then run once more (nothing of ``fn`` ran yet).
                self._pool.check()
                return self._attempt(fn, durable)
        except _DeadConnection as exc:
            raise StoreUnavailable(f"PostgreSQL unavailable: {_first_line(exc.cause)}") from exc
        except psycopg_pool.PoolTimeout as exc:
            msg = f"PostgreSQL did not answer within {self._timeout:g} s"
            raise StoreUnavailable(msg) from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL unavailable: {_first_line(exc)}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL statement failed: {_first_line(exc)}") from exc

    def _attempt(self, fn: Callable[[Conn], T], durable: bool) -> T:
        with self._pool.connection() as conn:
            pg = _PgConn(conn)
            try:
                with conn.transaction():
                    if not durable:  # the commit need not wait for the WAL flush
                        conn.execute("SET LOCAL synchronous_commit TO OFF")
                    return fn(pg)
            except psycopg.OperationalError as exc:
                if conn.broken and not pg.began:
                    raise _DeadConnection(exc) from exc
                raise


class _DeadConnection(Exception):
    """A pooled connection was found dead before the transaction did anything."""

    def __init__(self, cause: psycopg.OperationalError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _apply_migrations(conn: Conn) -> list[int]:
    raw: psycopg.Connection[Row] = conn._conn  # type: ignore[attr-defined]  # noqa: SLF001
    raw.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
    raw.execute(
        "CREATE TABLE IF NOT EXISTS ctsync_migrations"
        " (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())"
    )
    done = {r["version"] for r in raw.execute("SELECT version FROM ctsync_migrations")}
    applied = []
    for version, script in migrations("postgres"):
        if version in done:
            continue
        raw.execute(script.encode())
        raw.execute("INSERT INTO ctsync_migrations (version) VALUES (%s)", (version,))
        applied.append(version)
    return applied
