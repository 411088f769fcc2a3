"""The store path alone: a backfill page recorded in one go against one event at a time.

    uv run python -m bench.record_page [--customers 20000] [--no-postgres]

In one process, no HTTP: N generated customers, read as a backfill reads them,
are recorded page by page (500) into a fresh store, once by ``record_page``
and once by ``record_event`` per customer, on SQLite and PostgreSQL. Prints
customers/s of each; what the end-to-end backfill pays on top is the fetch.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import tempfile
import time
from collections.abc import Callable, Iterator

from tests import payloads

from bench import _pg
from ctsync._record_page import record_page
from ctsync.backfill import read_event
from ctsync.ingress._model import CtEvent
from ctsync.pipeline import RecordResult, default_planner, record_event
from ctsync.store import Conn, open_store

_PLANNER = default_planner()
_HORIZON = 3600.0
_PAGE = 500


def _pages(customers: int) -> list[list[CtEvent]]:
    events = [
        read_event(
            "bench",
            payloads.customer(f"c-{i:07d}", email=f"customer{i}@example.com"),
            via="backfill",
        )
        for i in range(customers)
    ]
    return [events[i : i + _PAGE] for i in range(0, customers, _PAGE)]


def _in_one_go(conn: Conn, page: list[CtEvent], now: float) -> list[RecordResult]:
    return record_page(conn, page, planner=_PLANNER, now=now, horizon_s=_HORIZON)


def _one_by_one(conn: Conn, page: list[CtEvent], now: float) -> list[RecordResult]:
    return [record_event(conn, e, planner=_PLANNER, now=now, horizon_s=_HORIZON) for e in page]


def _call(
    how: Callable[[Conn, list[CtEvent], float], list[RecordResult]],
    page: list[CtEvent],
    now: float,
    conn: Conn,
) -> list[RecordResult]:
    return how(conn, page, now)


def _rate(
    url: str,
    pages: list[list[CtEvent]],
    how: Callable[[Conn, list[CtEvent], float], list[RecordResult]],
) -> float:
    store = open_store(url)
    store.migrate()
    try:
        started = time.perf_counter()
        for page in pages:
            now = time.time()
            store.write(functools.partial(_call, how, page, now))
        return sum(map(len, pages)) / (time.perf_counter() - started)
    finally:
        store.close()


@contextlib.contextmanager
def _stores(tmp: str, *, postgres: bool) -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as stack:
        urls = {}
        for how in ("page", "one"):
            urls[f"sqlite {how}"] = f"sqlite:///{tmp}/{how}.db"
            if postgres:
                urls[f"postgres {how}"] = stack.enter_context(_pg.fresh_database(how))
        yield urls


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.record_page", description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    pages = _pages(args.customers)
    postgres = not args.no_postgres and _pg.unavailable() is None
    with tempfile.TemporaryDirectory() as tmp, _stores(tmp, postgres=postgres) as urls:
        for key, url in urls.items():
            how = _in_one_go if key.endswith("page") else _one_by_one
            print(f"{key:14} {_rate(url, pages, how):8,.0f} customers/s", flush=True)


if __name__ == "__main__":
    main()
