"""Log lines as an operator reads them from a real ``ctsync serve``: one per stage,
linked by event id, commercetools message id and request id; no email, no key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests import payloads
from tests.fakes.segment import FakeSegment
from tests.helpers import ServerProcess, wait_for

EMAIL = "Log.Reader@Example.com"


def lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for raw in path.read_text().splitlines():
        if raw.startswith("{"):
            out.append(json.loads(raw))
    return out


def test_one_line_per_stage_without_personal_data(sqlite_url: str, tmp_path: Path) -> None:
    log_path = tmp_path / "serve.log"
    with FakeSegment() as fake:
        env = {
            "DATABASE_URL": sqlite_url,
            "SEGMENT_ENDPOINT": fake.url,
            "SEGMENT_WRITE_KEY": fake.write_key,
            "CTSYNC_ALLOW_UNVERIFIED": "true",
            "CTSYNC_RETRY_BASE_S": "0.02",
            "CTSYNC_DRAIN_INTERVAL_S": "0.05",
            "CTSYNC_TEST_LOG": str(log_path),
        }
        with ServerProcess(env) as server:
            fake.script([400])
            body = payloads.created("c-log", email=EMAIL)
            r = httpx.post(
                f"{server.url}/api/webhook",
                json=body,
                headers={"x-request-id": "req-123"},
                timeout=10,
            )
            assert r.headers["x-request-id"] == "req-123"
            event_id = r.json()["eventId"]
            # Alone in its batch, so the scripted 400 dead-letters it (a batch of two
            # would be split and each resent alone, the second time without the 400).
            wait_for(
                lambda: any(e["event"] == "dead_lettered" for e in lines(log_path)),
                what="the dead letter",
            )
            ok = httpx.post(
                f"{server.url}/api/webhook", json=payloads.created("c-log2"), timeout=10
            ).json()
            fake.wait_for(lambda: len(fake.messages) == 1)

            def staged() -> list[dict[str, Any]]:
                found = lines(log_path)
                events = {e.get("event") for e in found}
                return found if {"recorded", "dead_lettered", "delivered"} <= events else []

            wait_for(staged, what="the recorded, delivered and dead_lettered lines")
            r = httpx.post(
                f"{server.url}/api/admin/replay/filter", json={"email": EMAIL}, timeout=10
            )
            assert r.json() == {"replayed": 1}

            def replayed() -> list[dict[str, Any]]:
                found = lines(log_path)
                return found if any(e["event"] == "replayed" for e in found) else []

            found = wait_for(replayed, what="the replayed line")
    recorded = next(e for e in found if e["event"] == "recorded" and e["event_id"] == event_id)
    assert recorded["ct_message_id"] == body["id"]
    assert recorded["request_id"] == "req-123"
    assert recorded["envelope"] == "direct"
    dead = next(e for e in found if e["event"] == "dead_lettered")
    assert dead["event_id"] == event_id
    assert dead["status_code"] == 400
    delivered = next(e for e in found if e["event"] == "delivered")
    assert ok["eventId"] in delivered["event_ids"]
    replay = next(e for e in found if e["event"] == "replayed")
    assert replay["count"] == 1
    assert replay["email"].startswith("email:")
    text = log_path.read_text()
    assert EMAIL not in text
    assert EMAIL.lower() not in text
    assert fake.write_key not in text
