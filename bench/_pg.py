"""Fresh PostgreSQL databases for the benchmarks (dropped afterwards)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

ADMIN_URL = os.environ.get("CTSYNC_BENCH_PG", "postgresql://127.0.0.1:5432/test")


def unavailable() -> str | None:
    """None when PostgreSQL answers at ADMIN_URL; else why not."""
    import psycopg

    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


@contextlib.contextmanager
def fresh_database(label: str) -> Iterator[str]:
    """An empty database (ctsync migrates it on start); its URL. Dropped on exit."""
    import psycopg

    name = f"ctsync_bench_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
