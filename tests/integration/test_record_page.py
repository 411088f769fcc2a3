"""A backfill page recorded in one go leaves the store as recording it event by event would."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from ctsync._record_page import record_page
from ctsync.backfill import read_event
from ctsync.ingress import parse_ct_payload
from ctsync.ingress._model import CtEvent
from ctsync.mapping import IdentityState, Plan
from ctsync.pipeline import RecordResult, default_planner, record_event
from ctsync.store import Conn, Store
from tests import payloads

_MAPPED = default_planner()


def _routed(event: CtEvent, state: IdentityState | None) -> Plan:
    """The default mapping, versioned; c-new's route sends it to a second destination."""
    plan = replace(_MAPPED(event, state), mapping_version="7")
    if event.resource_id == "c-new":
        return replace(plan, destinations=("default", "warehouse"))
    return plan


PLANNER = _routed


HORIZON = 3600.0
_EVENTS = """SELECT dedupe_key, received_at, envelope, kind, type, project_key, resource_type,
       resource_id, resource_version, message_id, created_at, status, reason, user_id, payload,
       fetch_after, fetch_attempts
FROM events ORDER BY id"""
_OUTBOX = """SELECT e.dedupe_key AS event, o.message_id, o.order_key, o.type, o.user_id, o.body,
       o.status, o.attempts, o.created_at, o.deadline, o.next_attempt_at, o.last_error,
       o.finished_at, o.mapping_version, o.destination
FROM outbox o LEFT JOIN events e ON e.id = o.event_id ORDER BY o.order_key, o.id"""
_IDENTITIES = """SELECT project_key, customer_id, user_id, state, deleted, updated_at, waiting
FROM identities ORDER BY project_key, customer_id"""


class _Rollback(Exception):
    def __init__(self, seen: Any) -> None:
        super().__init__("rolled back")
        self.seen = seen


def _rows(conn: Conn, sql: str) -> list[dict[str, Any]]:
    raw = conn._conn  # type: ignore[attr-defined]
    return [dict(r) for r in raw.execute(sql).fetchall()]


def _seen(conn: Conn, results: list[RecordResult]) -> dict[str, Any]:
    """Every row of the tables the pipeline writes (surrogate ids replaced by dedupe keys).

    Outbox rows in each customer's order, the one delivery keeps: a page queues the
    deltas it releases after all its snapshots' messages, not between them.
    """
    keys = {r["id"]: r["dedupe_key"] for r in _rows(conn, "SELECT id, dedupe_key FROM events")}
    outcomes = [(r.status, keys.get(r.event_id), r.message_ids, r.reason) for r in results]
    return {
        "results": outcomes,
        "events": _rows(conn, _EVENTS),
        "outbox": _rows(conn, _OUTBOX),
        "identities": _rows(conn, _IDENTITIES),
    }


def _record(store: Store, payload: dict[str, Any], now: float) -> None:
    event = parse_ct_payload(payload)
    store.write(lambda c: record_event(c, event, planner=PLANNER, now=now, horizon_s=HORIZON))


def _history(store: Store, now: float) -> None:
    """Live events and an earlier backfill that the page meets."""
    _record(store, payloads.created("c-known", version=1), now - 50)
    _record(store, payloads.first_name_set("c-known", version=6, name="Newer"), now - 40)
    _record(store, payloads.first_name_set("c-wait", version=2, name="Late"), now - 30)
    _record(store, payloads.created("c-live", version=2), now - 20)
    earlier = read_event(payloads.PROJECT, payloads.customer("c-rerun"), via="backfill")
    store.write(
        lambda c: record_event(c, earlier, planner=PLANNER, now=now - 10, horizon_s=HORIZON)
    )


def _page() -> list[Any]:
    customers = [
        payloads.customer("c-known", version=7, firstName="Older", lastName="Updated"),
        payloads.customer("c-wait", version=1, email="wait@example.com"),
        payloads.customer("c-live", version=2),
        payloads.customer("c-rerun"),
        payloads.customer("c-new", version=3, email="new@example.com"),
        payloads.customer("c-nul", email="nul\x00@example.com"),
        payloads.customer("c-bare", email="bare@example.com", addresses=[], firstName=None),
    ]
    return [read_event(payloads.PROJECT, c, via="backfill") for c in customers]


def _try(store: Store, record: Any) -> dict[str, Any]:
    """What the store holds after ``record``, which is then rolled back."""

    def run(conn: Conn) -> None:
        raise _Rollback(_seen(conn, record(conn)))

    try:
        store.write(run)
    except _Rollback as done:
        return dict(done.seen)
    raise AssertionError("not rolled back")


def test_a_page_in_one_go_equals_its_customers_one_by_one(store: Store) -> None:
    now = time.time()
    _history(store, now - 100)
    page = _page()

    def one_by_one(conn: Conn) -> list[RecordResult]:
        return [record_event(conn, e, planner=PLANNER, now=now, horizon_s=HORIZON) for e in page]

    def in_one_go(conn: Conn) -> list[RecordResult]:
        return record_page(conn, page, planner=PLANNER, now=now, horizon_s=HORIZON)

    expected = _try(store, one_by_one)
    got = _try(store, in_one_go)
    statuses = [outcome[0] for outcome in got["results"]]
    assert statuses == [
        "accepted",  # a newer version of a known customer
        "accepted",  # releases the delta that waited for it
        "duplicate",  # its CustomerCreated of the same version was queued already
        "duplicate",  # an earlier backfill recorded the same version
        "accepted",
        "failed",
        "accepted",
    ]
    assert not any(e["status"] == "waiting" for e in got["events"])
    assert {m["destination"] for m in got["outbox"] if m["user_id"] == "new@example.com"} == {
        "default",
        "warehouse",
    }
    users = {m["user_id"] for m in got["outbox"]}
    assert {"new@example.com", "wait@example.com", "bare@example.com"} <= users
    late = [m for m in got["outbox"] if '"firstName":"Late"' in m["body"]]
    assert len(late) == 1  # the waiting delta went out
    for table in ("results", "events", "outbox", "identities"):
        assert got[table] == expected[table], table


def test_a_page_of_one_customer_twice_is_recorded_one_by_one(store: Store) -> None:
    now = time.time()
    twice = [
        read_event(payloads.PROJECT, payloads.customer("c-1", version=v), via="backfill")
        for v in (1, 2)
    ]

    def one_by_one(conn: Conn) -> list[RecordResult]:
        return [record_event(conn, e, planner=PLANNER, now=now, horizon_s=HORIZON) for e in twice]

    expected = _try(store, one_by_one)
    got = _try(store, lambda c: record_page(c, twice, planner=PLANNER, now=now, horizon_s=HORIZON))
    assert [outcome[0] for outcome in got["results"]] == ["accepted", "accepted"]
    assert got == expected
