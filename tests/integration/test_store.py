"""The store on SQLite and PostgreSQL: recording, claiming, leases, replay, purge."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import psycopg

from ctsync.ingress import parse_ct_payload
from ctsync.pipeline import default_planner, record_event, record_rejected
from ctsync.store import Conn, Store, open_store
from ctsync.store._ops import Outcome, claim, counts, list_messages, purge, replay, settle
from ctsync.store._queries import queries
from ctsync.store._sqlite import sqlite_path
from tests import payloads

PLANNER = default_planner()
HORIZON = 3600.0


def record(store: Store, payload: dict, now: float | None = None):
    event = parse_ct_payload(payload)
    at = time.time() if now is None else now
    return store.write(lambda c: record_event(c, event, planner=PLANNER, now=at, horizon_s=HORIZON))


def test_migrations_are_idempotent_and_safe_in_parallel(db_url: str) -> None:
    stores = [open_store(db_url) for _ in range(4)]
    results: list[list[int]] = []
    threads = [threading.Thread(target=lambda s=s: results.append(s.migrate())) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [[], [], [], []]  # the fixture migrated already; nobody re-applies
    for s in stores:
        s.close()


def test_a_redelivered_message_is_recorded_once_and_queues_nothing_new(store: Store) -> None:
    payload = payloads.created()
    first = record(store, payload)
    second = record(store, payload)
    assert first.status == "accepted"
    assert len(first.message_ids) == 1
    assert second.status == "duplicate"
    assert second.event_id == first.event_id
    assert second.message_ids == ()
    assert len(store.read(list_messages)) == 1


def test_claims_never_hand_one_message_to_two_drainers(store: Store) -> None:
    for i in range(20):
        record(store, payloads.created(f"c-{i}"))
    now = time.time()
    a = store.write(lambda c: claim(c, owner="a", now=now, lease_s=30, limit=15))
    b = store.write(lambda c: claim(c, owner="b", now=now, lease_s=30, limit=15))
    assert len(a) == 15
    assert len(b) == 5
    assert not {m.id for m in a} & {m.id for m in b}


def test_concurrent_claims_from_separate_stores_never_overlap(db_url: str) -> None:
    """Drainers in other processes: each thread has its own store (own connections)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from ctsync.store import open_store

    seed = open_store(db_url)
    for i in range(60):
        record(seed, payloads.created(f"cc-{i}"))
    seed.close()
    workers = 6
    start = threading.Barrier(workers)
    now = time.time()

    def drainer(n: int) -> list[int]:
        own = open_store(db_url)
        try:
            start.wait(timeout=30)  # every claim starts at once
            got: list[int] = []
            while batch := own.write(
                lambda c: claim(c, owner=f"w{n}", now=now, lease_s=30, limit=4)
            ):
                got.extend(m.id for m in batch)
            return got
        finally:
            own.close()

    with ThreadPoolExecutor(workers) as pool:
        claimed = list(pool.map(drainer, range(workers)))
    every = [i for ids in claimed for i in ids]
    assert len(every) == 60
    assert len(set(every)) == 60, "a message was claimed by two drainers"


def test_an_expired_lease_is_claimed_again_with_the_same_message_id(store: Store) -> None:
    record(store, payloads.created())
    now = time.time()
    first = store.write(lambda c: claim(c, owner="dead-worker", now=now, lease_s=5, limit=10))
    assert store.write(lambda c: claim(c, owner="b", now=now + 1, lease_s=5, limit=10)) == []
    again = store.write(lambda c: claim(c, owner="b", now=now + 6, lease_s=5, limit=10))
    assert [m.message_id for m in again] == [m.message_id for m in first]
    # the dead worker's late report no longer counts: its lease is gone
    lost = store.write(
        lambda c: settle(
            c, owner="dead-worker", now=now + 7, outcomes=[Outcome(first[0].id, "delivered", 200)]
        )
    )
    assert lost == 1


def test_messages_of_one_customer_go_out_in_order(store: Store) -> None:
    record(store, payloads.created("c-1", version=1))
    record(store, payloads.first_name_set("c-1", version=2))
    record(store, payloads.created("c-2", version=1, email="max@example.com"))
    now = time.time()
    batch = store.write(lambda c: claim(c, owner="a", now=now, lease_s=30, limit=10))
    # c-1's second message waits for its first; c-2 goes alongside
    assert sorted(m.user_id for m in batch) == ["jane.doe@example.com", "max@example.com"]
    assert [m.message["traits"].get("firstName") for m in batch] == ["Jane", "Jane"]
    store.write(
        lambda c: settle(
            c, owner="a", now=now, outcomes=[Outcome(m.id, "delivered", 200) for m in batch]
        )
    )
    nxt = store.write(lambda c: claim(c, owner="a", now=now, lease_s=30, limit=10))
    assert [m.message["traits"].get("firstName") for m in nxt] == ["Janet"]


def test_dead_letters_replay_with_their_original_message_id(store: Store) -> None:
    record(store, payloads.created())
    now = time.time()
    [m] = store.write(lambda c: claim(c, owner="a", now=now, lease_s=30, limit=10))
    store.write(
        lambda c: settle(
            c, owner="a", now=now, outcomes=[Outcome(m.id, "dead", 400, 3.0, "HTTP 400: bad")]
        )
    )
    dead = store.read(lambda c: list_messages(c, status="dead"))
    assert [d["last_error"] for d in dead] == ["HTTP 400: bad"]
    assert store.write(lambda c: replay(c, ids=None, now=now, horizon_s=HORIZON)) == 1
    assert store.write(lambda c: replay(c, ids=None, now=now, horizon_s=HORIZON)) == 0
    [again] = store.write(lambda c: claim(c, owner="b", now=now, lease_s=30, limit=10))
    assert again.message_id == m.message_id


def test_an_older_update_of_the_same_trait_is_stale(store: Store) -> None:
    record(store, payloads.created(version=1))
    newer = record(store, payloads.first_name_set(version=6, name="Newer"))
    older = record(store, payloads.first_name_set(version=5, name="Older"))
    assert newer.status == "accepted"
    assert older.status == "stale"
    assert older.message_ids == ()


def test_a_delta_before_any_snapshot_waits_then_goes_out(store: Store) -> None:
    waiting = record(store, payloads.first_name_set("c-9", version=2, name="Late"))
    assert waiting.status == "waiting"
    record(store, payloads.created("c-9", version=1))
    firsts = [m["body"]["traits"].get("firstName") for m in store.read(list_messages)]
    assert "Late" in firsts
    assert store.read(counts)["events"].get("waiting", 0) == 0


def test_deltas_waiting_for_a_snapshot_all_go_out_in_version_order(store: Store) -> None:
    record(store, payloads.created("c-other"))  # another customer's snapshot releases nothing
    first = record(store, payloads.first_name_set("c-9", version=2, name="Second"))
    second = record(store, payloads.first_name_set("c-9", version=3, name="Third"))
    assert (first.status, second.status) == ("waiting", "waiting")
    snapshot = record(
        store, payloads.created("c-9", version=1, firstName="First", email="nine@example.com")
    )
    assert snapshot.status == "accepted"
    names = [
        m["body"]["traits"].get("firstName")
        for m in sorted(store.read(list_messages), key=lambda m: m["id"])
        if m["body"]["userId"] == "nine@example.com"
    ]
    assert names == ["First", "Second", "Third"]
    assert store.read(counts)["events"].get("waiting", 0) == 0


def test_the_same_customer_version_announced_twice_is_queued_once(store: Store) -> None:
    first = record(store, payloads.created("c-1"))
    as_seed = payloads.seed("c-1") | {"projectKey": payloads.PROJECT}  # same customer, version 1
    second = record(store, as_seed)
    assert first.status == "accepted"
    assert second.status == "duplicate"
    assert second.reason == "every message of this event was already queued"
    assert second.message_ids == ()
    assert store.read(counts)["events"] == {"accepted": 1, "duplicate": 1}
    assert len(store.read(list_messages)) == 1


def test_deltas_waiting_before_an_upgrade_are_released_after_it(db_url: str) -> None:
    store = open_store(db_url)
    record(store, payloads.first_name_set("c-9", version=2, name="Late"))
    store.close()
    _back_to_migration_1(db_url)  # the schema an older ctsync left behind
    upgraded = open_store(db_url)
    try:
        assert upgraded.migrate() == [2]
        record(upgraded, payloads.created("c-9", version=1))
        firsts = [m["body"]["traits"].get("firstName") for m in upgraded.read(list_messages)]
        assert "Late" in firsts
        assert upgraded.read(counts)["events"].get("waiting", 0) == 0
    finally:
        upgraded.close()


def _back_to_migration_1(db_url: str) -> None:
    statements = [
        "ALTER TABLE identities DROP COLUMN waiting",
        "DELETE FROM ctsync_migrations WHERE version = 2",
    ]
    if db_url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(db_url)) as conn:
            for sql in statements:
                conn.execute(sql)
    else:
        with psycopg.connect(db_url, autocommit=True) as pg:
            for sql in statements:
                pg.execute(sql)


def test_purge_removes_old_delivered_data_but_keeps_dead_letters(store: Store) -> None:
    old = time.time() - 40 * 86400
    record(store, payloads.created("c-1"), now=old)
    record(store, payloads.created("c-2"), now=old)
    batch = store.write(lambda c: claim(c, owner="a", now=old, lease_s=30, limit=10))
    store.write(
        lambda c: settle(
            c,
            owner="a",
            now=old,
            outcomes=[Outcome(batch[0].id, "delivered", 200), Outcome(batch[1].id, "dead", 400)],
        )
    )
    removed = store.write(lambda c: purge(c, before=time.time() - 30 * 86400))
    assert removed["messages"] == 1
    left = store.read(list_messages)
    assert [m["status"] for m in left] == ["dead"]


def test_postgres_connections_dropped_while_idle_cost_no_failed_write(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        record(store, payloads.created("c-1"))
        database = pg_url.rsplit("/", 1)[1]
        with psycopg.connect(pg_url, autocommit=True) as admin:  # as a server restart does
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
        assert record(store, payloads.created("c-2")).status == "accepted"
        assert len(store.read(list_messages)) == 2
    finally:
        store.close()


def test_settling_a_batch_looks_its_messages_up_by_id(sqlite_url: str) -> None:
    # A full scan of the pending rows per message made draining 3x slower once.
    store = open_store(sqlite_url)
    store.migrate()
    store.close()
    sql = queries("sqlite")["finish_messages"]
    with sqlite3.connect(sqlite_path(sqlite_url)) as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {sql}", {"rows": "[]", "now": 0, "owner": "a"})
        steps = [row[3] for row in plan]
    assert any("SEARCH outbox USING INTEGER PRIMARY KEY" in s for s in steps), steps


def test_sqlite_skips_the_fsync_for_bookkeeping_but_never_for_an_event(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    store.migrate()

    def mode(conn: Conn) -> int:  # 1 = NORMAL (no fsync per commit), 2 = FULL
        return int(conn._conn.execute("PRAGMA synchronous").fetchone()[0])  # type: ignore[attr-defined]

    async def writes() -> list[int]:
        return [
            await store.awrite(mode, durable=False),  # a drainer's claim or outcome
            await store.awrite(mode),  # an event
            await store.awrite(mode, durable=False),
        ]

    try:
        assert asyncio.run(writes()) == [1, 2, 1]
        assert store.write(mode) == 2
    finally:
        store.close()


def test_a_rejection_quoting_a_nul_or_a_lone_surrogate_is_still_kept(store: Store) -> None:
    # A reason may quote the delivery; PostgreSQL refuses both in text, and that
    # refusal would repeat on every redelivery of the cloud envelope.
    event = parse_ct_payload(payloads.created())
    reason = "bad attribute 'a\x00b' and '\udc80'"
    result = store.write(lambda c: record_rejected(c, event, reason=reason, now=time.time()))
    assert result.status == "rejected"
    assert result.reason is not None
    assert "\x00" not in result.reason
    assert result.reason.startswith("bad attribute 'a")
    assert store.read(counts)["events"] == {"rejected": 1}


def test_ctrl_c_as_a_write_finishes_is_not_lost(store: Store) -> None:
    """A cancellation (asyncio.run's answer to Ctrl-C) that arrives just as a write
    commits still cancels the caller: it did not, with wait_for on Python 3.11, and
    `ctsync backfill` went on reading after Ctrl-C.
    """

    async def go() -> str:
        loop = asyncio.get_running_loop()
        caller: asyncio.Task[str] | None = None

        def write(c: Conn) -> int:
            c.one("staged_summary")
            assert caller is not None
            loop.call_soon_threadsafe(caller.cancel)  # arrives just before the result
            return 1

        async def writes() -> str:
            await store.awrite(write)
            await asyncio.sleep(0)
            return "went on after Ctrl-C"

        caller = asyncio.create_task(writes())
        try:
            return await caller
        except asyncio.CancelledError:
            return "cancelled"

    assert [asyncio.run(go()) for _ in range(5)] == ["cancelled"] * 5
