"""Hostile input at the webhook: always a 4xx (or a rejected 2xx in a cloud envelope), never a
5xx, and the service keeps working. Slow clients cannot hold it.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctsync.config import Settings
from ctsync.web import create_app
from tests import envelopes, payloads
from tests.helpers import ThreadServer, wait_for

JSON = {"content-type": "application/json"}
DEEP = b'{"a":' * 100 + b"1" + b"}" * 100


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadServer]:
    settings = Settings(
        DATABASE_URL=f"sqlite:///{tmp_path}/ctsync.db",
        CTSYNC_BODY_TIMEOUT_S="1",
        CTSYNC_ALLOW_UNVERIFIED="true",
    )
    with ThreadServer(create_app(settings)) as s:
        yield s


def post(
    server: ThreadServer,
    body: bytes,
    headers: dict[str, str] | None = None,
    path: str = "/api/webhook",
) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", content=body, headers=headers or JSON, timeout=10)


def still_works(server: ThreadServer) -> None:
    r = post(server, json.dumps(payloads.created(email="after@example.com")).encode())
    assert r.status_code == 200
    assert r.json()["status"] in {"accepted", "duplicate"}


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (
            gzip.compress(json.dumps(payloads.created()).encode()),
            {**JSON, "content-encoding": "gzip"},
            200,
        ),
        (
            gzip.compress(json.dumps(payloads.created()).encode())[:-9],
            {**JSON, "content-encoding": "gzip"},
            400,
        ),
        (b"\x1f\x8b\x08\x00garbage", {**JSON, "content-encoding": "gzip"}, 400),
        (gzip.compress(b"[" * (5 * 1024 * 1024)), {**JSON, "content-encoding": "gzip"}, 413),
        (b"{}", {**JSON, "content-encoding": "br"}, 415),
        (b"{}", {"content-type": "multipart/form-data; boundary=x"}, 415),
        (b"<xml/>", {"content-type": "application/xml"}, 415),
        (DEEP, JSON, 400),
        (b'{"n": 1' + b"0" * 5000 + b"}", JSON, 400),
        (b'{"n": 1e999}', JSON, 400),
        (b'{"n": -Infinity}', JSON, 400),
        (b'{"s": "\\ud800"}', JSON, 400),
        (b'{"a": 1, "a": 2}', JSON, 400),
        (b'{"a": "caf\xe9"}', JSON, 400),
        (json.dumps(payloads.created()).encode()[:-7], JSON, 400),
        (b"null", JSON, 400),
    ],
)
def test_hostile_bodies_get_a_4xx_and_the_service_keeps_working(
    server: ThreadServer, body: bytes, headers: dict[str, str], status: int
) -> None:
    r = post(server, body, headers)
    assert r.status_code == status, r.text
    if status >= 400:
        assert r.json()["error"]
    still_works(server)


@pytest.mark.parametrize(
    "inner",
    [
        DEEP,
        b'{"n": 1e999}',
        b'{"a": 1, "a": 2}',
        b"\xff\xfe\x00",
        b'{"trunc": ',
        b"[]",
        json.dumps({"notificationType": "Message"}).encode(),
    ],
)
def test_hostile_content_inside_a_cloud_envelope_is_rejected_not_bounced(
    server: ThreadServer, inner: bytes
) -> None:
    r = post(server, json.dumps(envelopes.pubsub(None, raw=inner)).encode())
    assert (r.status_code, r.json()["status"]) == (200, "rejected")
    if b"\xff" not in inner:
        sns = envelopes.sns(None, message=inner.decode())
        r = post(server, json.dumps(sns).encode(), envelopes.SNS_HEADERS)
        assert (r.status_code, r.json()["status"]) == (200, "rejected")
    still_works(server)


@pytest.mark.parametrize("kind", [b"[]", b"{}"])
def test_a_notification_type_that_is_not_a_string_is_a_400(
    server: ThreadServer, kind: bytes
) -> None:
    r = post(server, b'{"notificationType": ' + kind + b"}")
    assert r.status_code == 400
    assert "notificationType" in r.json()["error"]


def test_a_hostile_body_in_raw_delivery_mode_is_still_a_400(server: ThreadServer) -> None:
    headers = {**envelopes.SNS_HEADERS, "x-amz-sns-rawdelivery": "true"}
    assert post(server, b'{"a": 1, "a": 2}', headers).status_code == 400
    event = envelopes.cloudevent(payloads.created())
    assert post(server, b"\xff", envelopes.binary_headers(event)).status_code == 400
    still_works(server)


def _raw_request(server: ThreadServer, head_and_start: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(head_and_start)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


SLOW_HEAD = (
    b"POST /api/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100000\r\n\r\n"
)


def test_a_stalled_body_times_out_with_408_and_does_not_hold_the_server(
    server: ThreadServer,
) -> None:
    stalled = [_raw_request(server, SLOW_HEAD + b'{"a": ') for _ in range(20)]
    still_works(server)  # while twenty bodies hang
    assert httpx.get(f"{server.url}/api/health", timeout=5).status_code == 200
    for sock in stalled:
        answer = _read_all(sock)  # returns once the server answers and closes
        assert answer.startswith(b"HTTP/1.1 408")
        assert b"did not arrive within 1 s" in answer
        sock.close()


def test_a_trickling_body_hits_the_same_deadline(server: ThreadServer) -> None:
    sock = _raw_request(server, SLOW_HEAD)
    done = threading.Event()

    def trickle() -> None:  # one byte every 50 ms: never idle long, never finished
        try:
            while not done.wait(0.05):
                sock.sendall(b" ")
        except OSError:
            pass  # the server hung up: what we expect

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        answer = _read_all(sock)
    finally:
        done.set()
        sender.join(timeout=5)
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408")
    still_works(server)


# --- property-based: envelopes and messages, shaped and broken -------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def ct_messages(draw: st.DrawFn) -> Any:
    """Platform payloads: mostly well-formed, with any field swapped for junk."""
    message = payloads.message(
        draw(
            st.sampled_from(
                [
                    "CustomerCreated",
                    "CustomerFirstNameSet",
                    "CustomerDeleted",
                    "CustomerEmailChanged",
                    "OrderCreated",
                    "Unheard",
                ]
            )
        ),
        draw(st.text(min_size=1, max_size=12)),
        version=draw(st.integers(0, 2**40)),
    )
    message["customer"] = payloads.customer(email=draw(st.emails() | st.text(max_size=30)))
    for key in draw(st.lists(st.sampled_from(sorted(message)), max_size=3)):
        message[key] = draw(_json)
    return draw(st.just(message) | _json)


WRAPS = {
    "direct": lambda m: (m, JSON),
    "pubsub": lambda m: (envelopes.pubsub(m), JSON),
    "sns": lambda m: (envelopes.sns(m), envelopes.SNS_HEADERS),
    "cloudevent": lambda m: (
        envelopes.cloudevent(m if isinstance(m, dict) else {"x": m}),
        {"content-type": "application/cloudevents+json"},
    ),
    "batch": lambda m: (
        [envelopes.cloudevent(m if isinstance(m, dict) else {}), m],
        {"content-type": "application/cloudevents-batch+json"},
    ),
    "eventgrid": lambda m: (
        envelopes.eventgrid(m if isinstance(m, dict) else {}),
        {**JSON, "aeg-event-type": "Notification"},
    ),
    "eventbridge": lambda m: (envelopes.eventbridge(m), JSON),
}


def _mutate(body: bytes, how: str, at: int, byte: int) -> bytes:
    at = at % (len(body) + 1)
    return {
        "none": body,
        "truncate": body[:at],
        "flip": body[:at] + bytes([byte]) + body[at + 1 :],
        "insert": body[:at] + bytes([byte]) * 3 + body[at:],
        "gzip": gzip.compress(body),
        "base64": base64.b64encode(body),
    }[how]


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str], str]:
    body, headers = WRAPS[draw(st.sampled_from(sorted(WRAPS)))](draw(ct_messages()))
    raw = _mutate(
        json.dumps(body).encode(),
        draw(st.sampled_from(["none", "none", "truncate", "flip", "insert", "gzip", "base64"])),
        draw(st.integers(0, 10_000)),
        draw(st.integers(0, 255)),
    )
    headers = dict(headers)
    if raw[:2] == b"\x1f\x8b":
        headers["content-encoding"] = "gzip"
    if draw(st.booleans()):
        headers["content-type"] = draw(
            st.sampled_from(
                [
                    "application/json",
                    "text/plain",
                    "application/cloudevents+json",
                    "application/cloudevents-batch+json",
                    "application/x-www-form-urlencoded",
                    "",
                ]
            )
        )
    if draw(st.booleans()):
        headers |= draw(
            st.sampled_from(
                [
                    {"ce-specversion": "1.0", "ce-id": "1", "ce-type": "t", "ce-source": "/s"},
                    {"ce-specversion": "0.3"},
                    {"x-amz-sns-message-type": "Notification"},
                    {"x-amz-sns-rawdelivery": "true"},
                    {"x-goog-pubsub-message-id": "9"},
                    {"aeg-event-type": "SubscriptionValidation"},
                ]
            )
        )
    path = draw(
        st.sampled_from(
            [
                "/api/webhook",
                "/api/webhook/pubsub",
                "/api/webhook/sns",
                "/api/webhook/eventgrid",
                "/api/webhook/cloudevents",
                "/api/webhook/eventbridge",
            ]
        )
    )
    return raw, headers, path


def test_no_envelope_or_message_gets_a_5xx(server: ThreadServer) -> None:
    answers: dict[int, int] = {}

    @given(request=requests())
    @settings(
        max_examples=250, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(request: tuple[bytes, dict[str, str], str]) -> None:
        body, headers, path = request
        r = post(server, body, headers, path)
        answers[r.status_code] = answers.get(r.status_code, 0) + 1
        assert r.status_code < 500, r.text
        assert isinstance(r.json(), dict)

    check()
    print(f"property test: by status {answers}")
    assert answers.get(200, 0) > 0  # the strategy reaches the pipeline, not only the parser
    assert answers.get(400, 0) > 0
    still_works(server)
    wait_for(
        lambda: httpx.get(f"{server.url}/api/ready", timeout=5).status_code == 200, what="ready"
    )


_credentials = st.sampled_from(
    [
        {},
        {"authorization": "Bearer not-the-secret"},
        {"authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"},
        {"authorization": "Bearer a.b.c"},
        {"authorization": "Basic " + base64.b64encode(b"user:wrong").decode()},
        {"authorization": "Basic !!!"},
        {"authorization": "Negotiate xyz"},
    ]
)


def test_with_checks_on_nothing_unproven_gets_past_401(tmp_path: Path) -> None:
    config = Settings(
        DATABASE_URL=f"sqlite:///{tmp_path}/ctsync.db",
        CTSYNC_WEBHOOK_SECRET="the-real-secret",
        CTSYNC_SNS_VERIFY="true",
        CTSYNC_SNS_TOPIC_ARN=envelopes.TOPIC_ARN,
        CTSYNC_PUBSUB_AUDIENCE="https://ctsync.example/api/webhook",
        CTSYNC_PUBSUB_SERVICE_ACCOUNT="push@ctsync-test.iam.gserviceaccount.com",
        CTSYNC_PUBSUB_CERTS_URL="https://127.0.0.1:1/certs",  # unreachable: tokens unprovable
        CTSYNC_ADMIN_TOKEN="admin",
        CTSYNC_ALLOW_UNVERIFIED="true",  # changes nothing once a check is configured
    )
    with ThreadServer(create_app(config)) as server:

        @given(request=requests(), credentials=_credentials)
        @settings(
            max_examples=100,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(request: tuple[bytes, dict[str, str], str], credentials: dict[str, str]) -> None:
            body, headers, path = request
            r = post(server, body, headers | credentials, path)
            assert r.status_code == 401, r.text
            assert "the-real-secret" not in r.text

        check()
        admin = {"Authorization": "Bearer admin"}
        listed = httpx.get(f"{server.url}/api/admin/events", headers=admin, timeout=10)
        assert listed.json()["events"] == []
        ok = {**JSON, "authorization": "Bearer the-real-secret"}
        assert post(server, json.dumps(payloads.created()).encode(), ok).status_code == 200
