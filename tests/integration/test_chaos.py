"""Chaos: Segment fails at random while the server and a worker are SIGKILLed and restarted.

Every delivery the webhook accepted must reach Segment; a message that arrives
twice must carry the same messageId (Segment deduplicates on it).
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ctsync.store import open_store
from ctsync.store._ops import counts
from tests import payloads
from tests.fakes.segment import FakeSegment
from tests.helpers import ServerProcess, free_port, wait_for

DELIVERIES = int(os.environ.get("CHAOS_DELIVERIES", "2000"))
POSTERS = 16


def _env(db_url: str, fake: FakeSegment, tmp: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": db_url,
        "SEGMENT_ENDPOINT": fake.url,
        "SEGMENT_WRITE_KEY": fake.write_key,
        "CTSYNC_RETRY_BASE_S": "0.05",
        "CTSYNC_RETRY_CAP_S": "0.5",
        "CTSYNC_LEASE_S": "3",
        "CTSYNC_SINK_TIMEOUT_S": "2",
        "CTSYNC_LOG_LEVEL": "warning",
        "CTSYNC_ALLOW_UNVERIFIED": "true",
        "CTSYNC_TEST_LOG": str(tmp / f"{uuid.uuid4().hex}.log"),
    }


class Cluster:
    """One `ctsync serve` and one `ctsync worker`, restartable after a SIGKILL."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.server = ServerProcess(env, port=self.port)
        self.worker = ServerProcess(env, "worker", "--concurrency", "2")
        self.kills = Counter[str]()

    def start(self) -> None:
        self.server.start()
        self.worker.start(wait_healthy=False)

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kill_one(self, rng: random.Random) -> None:
        name = rng.choice(["server", "worker"])
        proc = self.server if name == "server" else self.worker
        proc.kill()
        self.kills[name] += 1
        proc.start(wait_healthy=name == "server")

    def stop(self) -> None:
        self.server.kill()
        self.worker.kill()


def _post_until_recorded(url: str, body: dict, stop: threading.Event) -> str:
    """What commercetools does: redeliver until a 2xx."""
    with httpx.Client(timeout=5) as client:
        while not stop.is_set():
            try:
                r = client.post(url, json=body)
            except httpx.HTTPError:
                time.sleep(0.05)  # the server is being restarted; back off like a sender
                continue
            if r.status_code == 200:
                return str(r.json()["status"])
            assert r.status_code == 503, r.text
    return "gave up"


def _post_while_killing(cluster: Cluster, rng: random.Random) -> Counter[str]:
    """Post every delivery (retrying like a sender) while processes are SIGKILLed."""
    stop_killing = threading.Event()

    def killer() -> None:
        while not stop_killing.wait(rng.uniform(2.0, 5.0)):
            cluster.kill_one(rng)

    killer_thread = threading.Thread(target=killer, daemon=True)
    killer_thread.start()
    url = f"http://127.0.0.1:{cluster.port}/api/webhook"
    bodies = [payloads.created(f"chaos-{i}", email=f"u{i}@example.com") for i in range(DELIVERIES)]
    try:
        with ThreadPoolExecutor(POSTERS) as pool:
            return Counter(pool.map(lambda b: _post_until_recorded(url, b, stop_killing), bodies))
    finally:
        stop_killing.set()  # also ends the posters if the test is interrupted
        killer_thread.join()


def _wait_until_all_delivered(db_url: str) -> set[str]:
    store = open_store(db_url)
    try:

        def settled() -> bool:
            by_status = store.read(counts)["messages"]
            return by_status == {"delivered": DELIVERIES}

        wait_for(settled, timeout=180, what="every message delivered")
        rows = store.read(
            lambda c: c.all("list_messages", status="delivered", limit=10 * DELIVERIES)
        )
        return {r["message_id"] for r in rows}
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_nothing_accepted_is_lost_while_processes_die(db_url: str, tmp_path: Path) -> None:
    rng = random.Random(20261129)
    with FakeSegment() as fake:
        fake.chaos(p5xx=0.3, p429=0.1, slow_p=0.05, slow_s=0.5, retry_after=0.2, seed=7)
        with Cluster(_env(db_url, fake, tmp_path)) as cluster:
            statuses = _post_while_killing(cluster, rng)
            assert statuses["gave up"] == 0
            assert statuses["accepted"] + statuses["duplicate"] == DELIVERIES
            fake.chaos()  # Segment recovers; everything left must now drain
            delivered_ids = _wait_until_all_delivered(db_url)

        at_fake = Counter(fake.message_ids())
        assert delivered_ids <= set(at_fake), "a delivered message never reached Segment"
        assert len(delivered_ids) == DELIVERIES
        duplicates = sum(n - 1 for n in at_fake.values() if n > 1)
        print(
            f"\nchaos[{db_url.split(':', maxsplit=1)[0]}]: posted={DELIVERIES} accepted="
            f"{statuses['accepted']} duplicate-answers={statuses['duplicate']} "
            f"kills={dict(cluster.kills)} segment-requests={fake.stats()['requests']} "
            f"segment-status={fake.stats()['by_status']} received={len(fake.messages)} "
            f"unique={len(at_fake)} redelivered-same-id={duplicates}"
        )
