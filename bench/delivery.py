"""Delivery contenders, each timed in a fresh process against the same fake Segment.

    python -m bench.delivery ctsync    --fake URL --write-key K --db URL
    python -m bench.delivery raw       --fake URL --write-key K --messages FILE
    python -m bench.delivery analytics --fake URL --write-key K --messages FILE [--max-queue Q]

The messages are what ctsync's mapping makes of realistic CustomerCreated
deliveries, mapped once (``write_messages``) so every contender sends the same.
``ctsync``: the outbox (pre-loaded by ``preload``) drained by ctsync's Drainer,
as ``ctsync drain`` runs it: claim 100, POST /v1/batch, record every outcome,
commit (SQLite: fsync), repeat. ``raw``: the same messages POSTed straight from
memory with httpx, 100 per request, nothing recorded: the ceiling.
``analytics``: segment-analytics-python's in-memory queue: enqueue N identifies,
then ``flush()``. Each prints one JSON line with the timed seconds and counts.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench._payloads import deliveries

if TYPE_CHECKING:
    from ctsync.store import Conn

BATCH = 100
HORIZON_S = 97200.0


def messages(run: str, count: int) -> list[dict[str, Any]]:
    """The Segment messages ctsync's mapping makes of ``count`` deliveries (in memory)."""
    from ctsync.ingress import parse_ct_payload
    from ctsync.mapping import MappingOptions, plan_event

    options = MappingOptions()
    out: list[dict[str, Any]] = []
    for payload in deliveries(run, count):
        out.extend(m.body for m in plan_event(parse_ct_payload(payload), None, options).messages)
    return out


def write_messages(path: Path, run: str, count: int) -> int:
    """Map ``count`` deliveries once and keep the messages for every contender."""
    found = messages(run, count)
    path.write_text(json.dumps(found, separators=(",", ":")))
    return len(found)


def read_messages(path: Path) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(path.read_text())
    return data


def preload(db_url: str, bodies: Sequence[dict[str, Any]], *, chunk: int = 2000) -> int:
    """Queue the messages in a fresh store's outbox with the store's own insert_message
    query (as the pipeline queues them); returns the pending rows.
    """
    from ctsync.store import open_store
    from ctsync.store._ops import counts

    store = open_store(db_url)
    try:
        store.migrate()
        now = time.time()
        rows = [
            {
                "event_id": None,
                "message_id": b["messageId"],
                "order_key": f"bench:{b['userId']}",
                "type": b["type"],
                "user_id": b["userId"],
                "body": json.dumps(b, separators=(",", ":")),
                "now": now + i * 1e-6,
                "deadline": now + HORIZON_S,
                "status": "pending",
                "error": None,
                "finished_at": None,
                "mapping_version": None,
                "destination": "default",
            }
            for i, b in enumerate(bodies)
        ]
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            store.write(partial(_insert_messages, rows=part))
        return int(store.read(counts)["messages"].get("pending", 0))
    finally:
        store.close()


def _insert_messages(conn: Conn, rows: Sequence[dict[str, Any]]) -> int:
    return conn.many("insert_message", rows)


def _batches(items: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def run_ctsync(fake: str, write_key: str, db_url: str) -> dict[str, Any]:
    """Drain the pre-loaded outbox with ctsync's Drainer, as `ctsync drain` does."""
    from ctsync.config import Settings
    from ctsync.service import Runtime

    settings = Settings(
        DATABASE_URL=db_url,
        SEGMENT_WRITE_KEY=write_key,
        SEGMENT_ENDPOINT=fake,
        CTSYNC_LOG_LEVEL="warning",
    )
    rt = Runtime.open(settings)

    async def drain() -> tuple[float, float, Any]:
        started, cpu = time.perf_counter(), time.process_time()
        report = await rt.drainer.drain()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        await rt.aclose()
        return elapsed, cpu, report

    seconds, cpu, report = asyncio.run(drain())
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "sent": report.delivered,
        "dropped": 0,
        "requests": report.batches,
        "failed": report.retried + report.dead,
    }


def run_raw(fake: str, write_key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """POST the same messages from memory, 100 per request, with one httpx client."""
    import httpx

    token = base64.b64encode(f"{write_key}:".encode()).decode()
    failed = requests = 0
    with httpx.Client(headers={"Authorization": f"Basic {token}"}, timeout=30) as client:
        started, cpu = time.perf_counter(), time.process_time()
        for batch in _batches(items, BATCH):
            sent_at = datetime.now(UTC).isoformat(timespec="milliseconds")
            response = client.post(
                f"{fake}/v1/batch", json={"batch": list(batch), "sentAt": sent_at}
            )
            requests += 1
            failed += len(batch) if response.status_code != 200 else 0
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "sent": len(items) - failed,
        "dropped": 0,
        "requests": requests,
        "failed": failed,
    }


def run_analytics(
    fake: str, write_key: str, items: list[dict[str, Any]], max_queue: int | None
) -> dict[str, Any]:
    """segment-analytics-python: enqueue every identify, then flush()."""
    from segment.analytics import Client

    errors: list[int] = []
    options: dict[str, Any] = {
        "host": fake,
        "on_error": lambda _e, batch: errors.append(len(batch)),
    }
    if max_queue is not None:
        options["max_queue_size"] = max_queue
    client = Client(write_key, **options)
    dropped = 0
    started, cpu = time.perf_counter(), time.process_time()
    for m in items:
        ok, _ = client.identify(
            user_id=m["userId"],
            traits=m.get("traits"),
            context=m.get("context"),
            message_id=m["messageId"],
        )
        dropped += not ok
    client.flush()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    client.join()
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "sent": len(items) - dropped - sum(errors),
        "dropped": dropped,
        "requests": None,
        "failed": sum(errors),
        "max_queue_size": client.queue.maxsize,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery", description=__doc__)
    parser.add_argument("kind", choices=["ctsync", "raw", "analytics"])
    parser.add_argument("--fake", required=True)
    parser.add_argument("--write-key", required=True)
    parser.add_argument("--db", default="", help="the pre-loaded store (ctsync)")
    parser.add_argument("--messages", type=Path, help="the messages as JSON (raw, analytics)")
    parser.add_argument("--max-queue", type=int, default=None)
    args = parser.parse_args(argv)
    if args.kind == "ctsync":
        result = run_ctsync(args.fake, args.write_key, args.db)
    elif args.kind == "raw":
        result = run_raw(args.fake, args.write_key, read_messages(args.messages))
    else:
        items = read_messages(args.messages)
        result = run_analytics(args.fake, args.write_key, items, args.max_queue)
    print(json.dumps({"kind": args.kind, **result}), flush=True)


if __name__ == "__main__":
    main()
