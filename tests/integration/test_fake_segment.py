"""The fake Segment's own contract, over real HTTP on loopback."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.fakes.segment import MAX_BATCH_MESSAGES, Answer, FakeSegment

if TYPE_CHECKING:
    from collections.abc import Iterator

KEY = "wk-test"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSegment]:
    with FakeSegment(KEY) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSegment) -> FakeSegment:
    server.reset()
    return server


@pytest.fixture
def client(fake: FakeSegment) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, auth=(KEY, ""), timeout=5) as c:
        yield c


def identify(n: int, **extra: Any) -> dict[str, Any]:
    return {"type": "identify", "userId": f"u{n}@example.com", "messageId": f"m-{n}"} | extra


def batch(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"batch": list(messages)}


# -- accepting and recording ------------------------------------------------------


def test_batch_is_accepted_and_recorded_in_order(fake: FakeSegment, client: httpx.Client) -> None:
    first = client.post("/v1/batch", json=batch(identify(1), identify(2)))
    second = client.post("/v1/batch", json=batch(identify(3)))
    assert (first.status_code, first.json()) == (200, {"success": True})
    assert second.status_code == 200
    assert fake.message_ids() == ["m-1", "m-2", "m-3"]
    assert [r.request for r in fake.received] == [1, 1, 2]
    assert fake.received[0].at <= fake.received[2].at
    assert [(r.number, r.status, r.messages) for r in fake.requests] == [(1, 200, 2), (2, 200, 1)]


@pytest.mark.parametrize("kind", ["identify", "track", "alias", "group", "page", "screen"])
def test_single_call_endpoints(fake: FakeSegment, client: httpx.Client, kind: str) -> None:
    body = {"userId": "u", "event": "E", "previousId": "p", "messageId": "m"}
    assert client.post(f"/v1/{kind}", json=body).status_code == 200
    assert fake.messages == [body | {"type": kind}]


def test_write_key_in_the_body_is_accepted_and_not_recorded(fake: FakeSegment) -> None:
    with httpx.Client(base_url=fake.url) as anonymous:
        assert (
            anonymous.post("/v1/identify", json={"writeKey": KEY, "userId": "u"}).status_code == 200
        )
        body = batch(identify(1)) | {"writeKey": KEY}
        assert anonymous.post("/v1/batch", json=body).status_code == 200
    assert fake.messages[0] == {"userId": "u", "type": "identify"}
    assert len(fake.messages) == 2


def test_gzip_request_bodies(fake: FakeSegment, client: httpx.Client) -> None:
    raw = gzip.compress(json.dumps(batch(identify(1))).encode())
    answer = client.post("/v1/batch", content=raw, headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 200
    assert fake.message_ids() == ["m-1"]


def test_duplicates_and_silent_drops_are_counted(fake: FakeSegment, client: httpx.Client) -> None:
    no_user = {"type": "identify", "traits": {}, "messageId": "m-x"}
    no_event = {"type": "track", "userId": "u", "messageId": "m-y"}
    client.post("/v1/batch", json=batch(identify(1), identify(1), no_user, no_event))
    assert [r.problems for r in fake.silently_dropped()] == [
        ("no_user_anon_id",),
        ("missing_event",),
    ]
    stats = fake.stats()
    assert (stats["messages"], stats["unique_message_ids"], stats["duplicates"]) == (4, 3, 1)


# -- auth -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "body_key"),
    [
        (None, None),
        (("wrong", ""), None),
        (None, "wrong"),
        (("wrong", ""), KEY),  # a wrong header is not rescued by the body
    ],
)
def test_wrong_or_missing_write_key_is_401(
    fake: FakeSegment, auth: tuple[str, str] | None, body_key: str | None
) -> None:
    body = batch(identify(1)) | ({"writeKey": body_key} if body_key else {})
    with httpx.Client(base_url=fake.url, auth=auth) as c:
        answer = c.post("/v1/batch", json=body)
    assert answer.status_code == 401
    assert answer.json()["code"] == "invalid_write_key"
    assert fake.messages == []
    assert fake.requests[0].status == 401


@pytest.mark.parametrize("header", ["Bearer wk-test", "Basic !!!", "Basic " + "d2s="])
def test_malformed_authorization_is_401(fake: FakeSegment, header: str) -> None:
    with httpx.Client(base_url=fake.url) as c:
        answer = c.post("/v1/identify", json={"userId": "u"}, headers={"Authorization": header})
    assert answer.status_code == 401


# -- limits -----------------------------------------------------------------------


def test_message_over_32_kb_is_400(fake: FakeSegment, client: httpx.Client) -> None:
    big = identify(1, traits={"x": "a" * (32 * 1024)})
    assert client.post("/v1/identify", json=big).status_code == 400
    answer = client.post("/v1/batch", json=batch(identify(2), big))
    assert (answer.status_code, answer.json()["code"]) == (400, "message_too_large")
    fake_ok = identify(3, traits={"x": "a" * (31 * 1024)})
    assert client.post("/v1/batch", json=batch(fake_ok)).status_code == 200
    assert fake.message_ids() == ["m-3"]


def test_batch_over_500_kb_is_400(fake: FakeSegment, client: httpx.Client) -> None:
    messages = [identify(n, traits={"x": "a" * (30 * 1024)}) for n in range(17)]
    answer = client.post("/v1/batch", json=batch(*messages))
    assert (answer.status_code, answer.json()["code"]) == (400, "request_too_large")
    assert client.post("/v1/batch", json=batch(*messages[:16])).status_code == 200
    assert len(fake.messages) == 16


def test_more_than_2500_messages_is_400(fake: FakeSegment, client: httpx.Client) -> None:
    small = [{"type": "identify", "userId": str(n)} for n in range(MAX_BATCH_MESSAGES + 1)]
    answer = client.post("/v1/batch", json=batch(*small))
    assert (answer.status_code, answer.json()["code"]) == (400, "too_many_messages")
    assert client.post("/v1/batch", json=batch(*small[:-1])).status_code == 200
    assert len(fake.messages) == MAX_BATCH_MESSAGES


@pytest.mark.parametrize(
    "content", [b"{not json", b"", b"[1, 2]", b'{"batch": {}}', b'{"batch": [1]}']
)
def test_invalid_json_or_shape_is_400(
    fake: FakeSegment, client: httpx.Client, content: bytes
) -> None:
    answer = client.post("/v1/batch", content=content)
    assert answer.status_code == 400
    assert answer.json()["success"] is False
    assert fake.messages == []


def test_other_methods_are_405(client: httpx.Client) -> None:
    assert client.get("/v1/batch").status_code == 405


# -- injected failures ------------------------------------------------------------


def test_scripted_answers_come_first_then_normal(fake: FakeSegment, client: httpx.Client) -> None:
    fake.script([500, 500, 429])
    statuses = [client.post("/v1/batch", json=batch(identify(n))).status_code for n in range(4)]
    assert statuses == [500, 500, 429, 200]
    assert fake.message_ids() == ["m-3"]
    assert [r.reason for r in fake.requests] == ["injected", "injected", "injected", ""]


def test_scripted_429_carries_retry_after(fake: FakeSegment, client: httpx.Client) -> None:
    fake.script([Answer(429, retry_after=7), Answer(429), 503])
    first = client.post("/v1/batch", json=batch(identify(1)))
    second = client.post("/v1/batch", json=batch(identify(1)))
    third = client.post("/v1/batch", json=batch(identify(1)))
    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert "Retry-After" not in second.headers
    assert (third.status_code, "Retry-After" in third.headers) == (503, False)


def test_scripted_success_still_checks_the_request(fake: FakeSegment) -> None:
    fake.script([200])
    with httpx.Client(base_url=fake.url) as c:
        assert c.post("/v1/batch", json=batch(identify(1))).status_code == 401


def test_lost_ack_records_then_fails(fake: FakeSegment, client: httpx.Client) -> None:
    fake.script([Answer(500, record=True)])
    assert client.post("/v1/batch", json=batch(identify(1))).status_code == 500
    assert client.post("/v1/batch", json=batch(identify(1))).status_code == 200  # the retry
    assert fake.message_ids() == ["m-1", "m-1"]
    assert fake.stats()["duplicates"] == 1


def test_down_answers_503_with_retry_after_until_up(
    fake: FakeSegment, client: httpx.Client
) -> None:
    fake.set_retry_after(3)
    fake.script([500])
    fake.down()
    answer = client.post("/v1/batch", json=batch(identify(1)))
    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "3")
    fake.up()
    assert client.post("/v1/batch", json=batch(identify(1))).status_code == 500  # script kept
    assert client.post("/v1/batch", json=batch(identify(1))).status_code == 200


def statuses_under_chaos(fake: FakeSegment, client: httpx.Client, n: int) -> list[int]:
    return [client.post("/v1/batch", json=batch(identify(i))).status_code for i in range(n)]


def test_chaos_is_seeded_and_repeatable(fake: FakeSegment, client: httpx.Client) -> None:
    fake.chaos(p5xx=0.3, p429=0.2, seed=42)
    first = statuses_under_chaos(fake, client, 60)
    fake.chaos(p5xx=0.3, p429=0.2, seed=42)
    assert statuses_under_chaos(fake, client, 60) == first
    assert {200, 429} <= set(first)
    assert set(first) - {200, 429} <= {500, 502, 503}
    assert 10 < first.count(200) < 50
    fake.chaos()
    assert set(statuses_under_chaos(fake, client, 10)) == {200}


def test_chaos_429_sends_its_retry_after(fake: FakeSegment, client: httpx.Client) -> None:
    fake.chaos(p429=1.0, retry_after=2.5)
    answer = client.post("/v1/batch", json=batch(identify(1)))
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "2.5")


def test_slow_answers_time_clients_out(fake: FakeSegment) -> None:
    fake.set_delay(0.5)
    impatient = httpx.Client(base_url=fake.url, auth=(KEY, ""), timeout=0.05)
    with impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post("/v1/batch", json=batch(identify(1)))
    fake.wait_for(lambda: len(fake.requests) == 1)  # it still answers, late
    fake.set_delay(0)


def test_chaos_slow_requests(fake: FakeSegment) -> None:
    fake.chaos(slow_p=1.0, slow_s=0.5)
    impatient = httpx.Client(base_url=fake.url, auth=(KEY, ""), timeout=0.05)
    with impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post("/v1/batch", json=batch(identify(1)))


# -- waiting ----------------------------------------------------------------------


def test_wait_for_wakes_on_arrival(fake: FakeSegment) -> None:
    def send() -> None:
        with httpx.Client(base_url=fake.url, auth=(KEY, "")) as c:
            for n in range(5):
                c.post("/v1/batch", json=batch(identify(n)))

    sender = threading.Thread(target=send)
    sender.start()
    fake.wait_for(lambda: len(fake.messages) == 5, timeout=10)
    sender.join()
    assert fake.message_ids() == [f"m-{n}" for n in range(5)]


def test_wait_for_times_out_with_the_stats(fake: FakeSegment) -> None:
    with pytest.raises(TimeoutError, match="'messages': 0"):
        fake.wait_for(lambda: len(fake.messages) > 0, timeout=0.1)


# -- the control API --------------------------------------------------------------


def test_control_api(fake: FakeSegment, client: httpx.Client) -> None:
    control = httpx.Client(base_url=fake.url + "/_fake")  # no auth needed
    client.post("/v1/batch", json=batch(identify(1), identify(2)))
    listed = control.get("/messages").json()
    assert listed["count"] == 2
    assert [m["message"]["messageId"] for m in listed["messages"]] == ["m-1", "m-2"]
    assert listed["messages"][0]["request"] == 1
    assert control.get("/messages", params={"since": 1}).json()["count"] == 1
    assert control.get("/messages", params={"since": "x"}).status_code == 400
    assert control.get("/requests").json()["requests"][0]["status"] == 200

    assert control.post("/down").status_code == 200
    assert client.post("/v1/batch", json=batch(identify(3))).status_code == 503
    control.post("/up")
    control.post("/script", json={"answers": [502, {"status": 429, "retry_after": 4}]})
    assert client.post("/v1/batch", json=batch(identify(3))).status_code == 502
    assert client.post("/v1/batch", json=batch(identify(3))).headers["Retry-After"] == "4"
    control.post("/chaos", json={"p5xx": 1.0, "seed": 1})
    assert client.post("/v1/batch", json=batch(identify(3))).status_code >= 500
    control.post("/chaos", json={})
    control.post("/delay", json={"seconds": 0})

    stats = control.get("/stats").json()
    assert (stats["requests"], stats["messages"], stats["by_status"]["200"]) == (5, 2, 1)
    assert stats["by_status"]["429"] == 1

    assert control.post("/reset").json()["stats"]["requests"] == 0
    assert fake.messages == []
    assert control.post("/nope").status_code == 404
    assert control.post("/chaos", json={"p6xx": 1}).status_code == 400
    assert control.post("/script", content=b"{broken").status_code == 400
    control.close()


# -- as a separate process --------------------------------------------------------


def test_runs_as_a_process() -> None:
    command = [sys.executable, "-m", "tests.fakes.segment", "--port", "0", "--write-key", "pk"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()  # printed once it is listening
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url, auth=("pk", ""), timeout=5) as c:
            assert c.post("/v1/identify", json={"userId": "u"}).status_code == 200
            assert c.get("/_fake/stats").json()["messages"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
