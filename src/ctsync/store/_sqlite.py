"""The embedded store: one SQLite file in WAL mode with ``synchronous=FULL``.

Every write goes through one writer thread that runs the writes waiting at that
moment in a single transaction, each in its own SAVEPOINT, and commits once
(group commit): an accepted event survives a power cut, and concurrent requests
share the cost of the fsync. Reads use per-thread connections (WAL lets them
run beside the writer).
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ctsync.errors import StoreError, StoreUnavailable
from ctsync.store._base import Conn, Row
from ctsync.store._queries import Dialect, migrations, queries

T = TypeVar("T")
_MAX_GROUP = 256


def sqlite_path(url: str) -> str:
    """The file a SQLAlchemy-style URL names: ``sqlite:///rel.db``, ``sqlite:////abs.db``."""
    rest = url.removeprefix("sqlite://")
    if not rest.startswith("/"):
        msg = f"not a SQLite URL: {url!r}"
        raise StoreError(msg)
    path = rest[1:]
    if path in {"", ":memory:"}:
        msg = "an in-memory SQLite store would lose every event on exit; name a file"
        raise StoreError(msg)
    return path


class _SqliteConn:
    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._sql = queries("sqlite")

    def one(self, query: str, **params: Any) -> Row | None:
        row = self._conn.execute(self._sql[query], params).fetchone()
        return dict(row) if row is not None else None

    def all(self, query: str, **params: Any) -> list[Row]:
        return [dict(r) for r in self._conn.execute(self._sql[query], params).fetchall()]

    def run(self, query: str, **params: Any) -> int:
        return self._conn.execute(self._sql[query], params).rowcount

    def many(self, query: str, rows: Iterable[Mapping[str, Any]]) -> int:
        return self._conn.executemany(self._sql[query], rows).rowcount


def _connect(path: str, *, timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


@dataclass(slots=True)
class _Job:
    fn: Callable[[Conn], Any]
    future: Future[Any]
    durable: bool = True


class SqliteStore:
    """The SQLite ``Store``: group-committing writer thread plus per-thread readers."""

    dialect: Dialect = "sqlite"

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self._path = sqlite_path(url)
        self.url_for_display = f"sqlite:///{self._path}"
        self._timeout = timeout
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer_conn = _connect(self._path, timeout=timeout)
        except sqlite3.Error as exc:
            msg = f"cannot open SQLite store {self._path}: {exc}"
            raise StoreUnavailable(msg) from exc
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._synced = True  # the writer connection runs synchronous=FULL
        self._thread = threading.Thread(target=self._writer, name="ctsync-sqlite-writer")
        self._thread.daemon = True
        self._thread.start()

    def write(self, fn: Callable[[Conn], T]) -> T:
        future = self._submit(fn)
        try:
            return future.result(timeout=self._timeout)
        except FutureTimeout as exc:
            future.cancel()
            raise self._too_slow() from exc

    async def awrite(self, fn: Callable[[Conn], T], *, durable: bool = True) -> T:
        # The writer thread resolves the future; the event loop awaits it directly,
        # without parking a thread-pool thread per request.
        future = self._submit(fn, durable=durable)
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a
            # cancellation (Ctrl-C) that arrives as the job finishes.
            async with asyncio.timeout(self._timeout):
                return await asyncio.wrap_future(future)
        except TimeoutError as exc:
            future.cancel()
            raise self._too_slow() from exc

    def _submit(self, fn: Callable[[Conn], T], *, durable: bool = True) -> Future[T]:
        if self._closed:
            msg = "store is closed"
            raise StoreUnavailable(msg)
        future: Future[T] = Future()
        self._jobs.put(_Job(fn, future, durable))
        return future

    def _too_slow(self) -> StoreUnavailable:
        return StoreUnavailable(f"SQLite store did not commit within {self._timeout:g} s")

    def read(self, fn: Callable[[Conn], T]) -> T:
        conn = self._reader()
        try:
            conn.execute("BEGIN")
            try:
                return fn(_SqliteConn(conn))
            finally:
                conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            msg = f"SQLite read failed: {exc}"
            raise StoreUnavailable(msg) from exc

    def migrate(self) -> list[int]:
        return self.write(_apply_migrations)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        self._thread.join(timeout=self._timeout)
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self._path, timeout=self._timeout)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _writer(self) -> None:
        conn = self._writer_conn
        while True:
            job = self._jobs.get()
            if job is None:
                break
            group = [job]
            while len(group) < _MAX_GROUP:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)
                    break
                group.append(more)
            self._commit_group(conn, group)
        conn.close()

    def _commit_group(self, conn: sqlite3.Connection, group: list[_Job]) -> None:
        live = [job for job in group if job.future.set_running_or_notify_cancel()]
        results: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            # A group of bookkeeping only (claims, outcomes) commits without the fsync;
            # the next durable commit's fsync of the WAL covers it too.
            durable = any(job.durable for job in live)
            if durable != self._synced:
                conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                self._synced = durable
            _begin_immediate(conn, self._timeout)
            results = [_run_in_savepoint(conn, job) for job in live]
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failure = StoreUnavailable(f"SQLite commit failed: {exc}")
            for job in live:
                job.future.set_exception(failure)
            return
        for job, value, error in results:
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(value)


def _begin_immediate(conn: sqlite3.Connection, timeout: float) -> None:
    """Take the write lock; another process may hold it briefly (busy_timeout waits)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        else:
            return


def _run_in_savepoint(
    conn: sqlite3.Connection, job: _Job
) -> tuple[_Job, Any, BaseException | None]:
    conn.execute("SAVEPOINT job")
    try:
        value = job.fn(_SqliteConn(conn))
    except sqlite3.Error as exc:
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return job, None, StoreError(f"SQLite statement failed: {exc}")
    except Exception as exc:  # noqa: BLE001 - handed to the caller through its future
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return job, None, exc
    conn.execute("RELEASE job")
    return job, value, None


def _apply_migrations(conn: Conn) -> list[int]:
    raw: sqlite3.Connection = conn._conn  # type: ignore[attr-defined]  # noqa: SLF001
    raw.execute(
        "CREATE TABLE IF NOT EXISTS ctsync_migrations"
        " (version INTEGER PRIMARY KEY, applied_at REAL)"
    )
    done = {r[0] for r in raw.execute("SELECT version FROM ctsync_migrations")}
    applied = []
    for version, script in migrations("sqlite"):
        if version in done:
            continue
        for statement in _statements(script):
            raw.execute(statement)
        raw.execute(
            "INSERT INTO ctsync_migrations (version, applied_at) VALUES (?, ?)",
            (version, time.time()),
        )
        applied.append(version)
    return applied


def _statements(script: str) -> list[str]:
    """Split a migration script on ``;`` at line ends (our scripts hold no triggers)."""
    return [s.strip() for s in script.split(";\n") if s.strip().rstrip(";")]
