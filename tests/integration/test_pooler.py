"""PostgreSQL through a transaction-mode pooler (PgBouncer), as Neon and Vercel Postgres hand out.

A pooled connection's transactions run on whichever server connection is free,
so psycopg's automatic prepared statements break there (PgBouncer before 1.21:
"prepared statement does not exist"). Migrations go to the direct URL when one
is given (``DATABASE_URL_UNPOOLED``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from ctsync.config import Settings
from ctsync.service import Runtime
from ctsync.web import create_app
from tests import payloads
from tests.conftest import IN_CI
from tests.fakes.segment import FakeSegment
from tests.helpers import ThreadServer, postgres_database
from tests.pgbouncer import pgbouncer, pgbouncer_binary, pooled_url

pytestmark = pytest.mark.postgres

SECRET = "pooler-test-secret"
CUSTOMERS = 40


@pytest.fixture
def bouncer(pg_template: str) -> Iterator[int]:
    del pg_template  # only for its PostgreSQL check (skip, or fail under CI)
    binary = pgbouncer_binary()
    if binary is None:
        if IN_CI:
            pytest.fail("pgbouncer is required under CI=true (./dev test installs it)")
        pytest.skip("pgbouncer is not installed (./dev test installs it)")
    with pgbouncer(binary) as port:
        yield port


def _post(url: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(
        f"{url}/api/webhook",
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"},
        timeout=30,
    )


def test_deliveries_flow_end_to_end_through_a_transaction_mode_pooler(bouncer: int) -> None:
    with FakeSegment() as fake, postgres_database() as direct:
        settings = Settings(
            DATABASE_URL=pooled_url(direct, bouncer),
            DATABASE_URL_UNPOOLED=direct,
            SEGMENT_ENDPOINT=fake.url,
            SEGMENT_WRITE_KEY=fake.write_key,
            CTSYNC_WEBHOOK_SECRET=SECRET,
            CTSYNC_DRAIN_INTERVAL_S=0.05,
        )
        events = [
            payloads.created(f"c-{n}", email=f"user{n}@example.com") for n in range(CUSTOMERS)
        ]
        with ThreadServer(create_app(settings)) as server, ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda e: _post(server.url, e), events))
            assert [a.status_code for a in answers] == [200] * CUSTOMERS, answers[0].text
            assert {a.json()["status"] for a in answers} == {"accepted"}
            fake.wait_for(lambda: len(fake.messages) >= CUSTOMERS, timeout=30)
            again = list(pool.map(lambda e: _post(server.url, e), events[:10]))
            assert {a.json()["status"] for a in again} == {"duplicate"}
        assert sorted(m["userId"] for m in fake.messages) == sorted(
            f"user{n}@example.com" for n in range(CUSTOMERS)
        )


def test_migrations_go_to_the_unpooled_url(pg_template: str) -> None:
    # The pooled URL names an already migrated copy, the direct one an empty database:
    # only the direct one can show whether the migrations ran there.
    with postgres_database(pg_template) as pooled, postgres_database() as direct:
        settings = Settings(DATABASE_URL=pooled, DATABASE_URL_UNPOOLED=direct)
        rt = Runtime.open(settings)
        rt.store.close()
        with psycopg.connect(direct) as conn:
            versions = conn.execute("SELECT count(*) FROM ctsync_migrations").fetchone()
        assert versions is not None
        assert versions[0] >= 1
