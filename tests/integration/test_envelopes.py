"""Each cloud's envelope, end to end: the real app on loopback, delivering to the fake Segment."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from ctsync.config import Settings
from ctsync.web import create_app
from tests import envelopes, payloads
from tests.certs import LOOPBACK, HttpsServer
from tests.fakes.segment import FakeSegment
from tests.helpers import ThreadServer

FAST = {"CTSYNC_RETRY_BASE_S": "0.02", "CTSYNC_DRAIN_INTERVAL_S": "0.05"}
JSON = {"content-type": "application/json"}
AppFactory = Callable[..., ThreadServer]


@pytest.fixture
def fake() -> Iterator[FakeSegment]:
    with FakeSegment() as f:
        yield f


def _starter(url: str, fake: FakeSegment) -> Iterator[AppFactory]:
    servers: list[ThreadServer] = []

    def start(**env: Any) -> ThreadServer:
        values = {
            "DATABASE_URL": url,
            "SEGMENT_ENDPOINT": fake.url,
            "SEGMENT_WRITE_KEY": fake.write_key,
            "CTSYNC_ALLOW_UNVERIFIED": "true",  # a local trial: no credentials to send
            **FAST,
            **env,
        }
        server = ThreadServer(create_app(Settings(**values))).__enter__()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.__exit__(None, None, None)


@pytest.fixture
def serve(sqlite_url: str, fake: FakeSegment) -> Iterator[AppFactory]:
    """The app on SQLite (envelope handling does not depend on the store)."""
    yield from _starter(sqlite_url, fake)


@pytest.fixture
def serve_any(db_url: str, fake: FakeSegment) -> Iterator[AppFactory]:
    """The app on SQLite, then on PostgreSQL."""
    yield from _starter(db_url, fake)


def post(server: ThreadServer, body: Any, path: str = "/api/webhook", **kw: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**JSON, **kw.pop("headers", {})}
    return httpx.post(f"{server.url}{path}", content=content, headers=headers, timeout=10, **kw)


def events(server: ThreadServer) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.url}/api/admin/events", timeout=10)
    return list(reversed(r.json()["events"]))


Wrap = Callable[[dict[str, Any]], tuple[Any, dict[str, str]]]
WRAPPERS: dict[str, Wrap] = {
    "direct": lambda p: (p, JSON),
    "pubsub": lambda p: (envelopes.pubsub(p), JSON),
    "sns": lambda p: (envelopes.sns(p), envelopes.SNS_HEADERS),
    "cloudevents": lambda p: (
        envelopes.cloudevent(p),
        {"content-type": "application/cloudevents+json; charset=utf-8"},
    ),
    "eventgrid": lambda p: (envelopes.eventgrid(p), {**JSON, "aeg-event-type": "Notification"}),
    "eventbridge": lambda p: (envelopes.eventbridge(p), JSON),
}


@pytest.mark.parametrize("envelope", list(WRAPPERS))
def test_every_envelope_reaches_segment(
    envelope: str, serve_any: AppFactory, fake: FakeSegment
) -> None:
    server = serve_any()
    body, headers = WRAPPERS[envelope](payloads.created(email="Jane@Example.com"))
    r = post(server, body, headers=headers)
    assert r.status_code == 200, r.text
    result = r.json()["results"][0] if envelope == "eventgrid" else r.json()
    assert result["status"] == "accepted"
    fake.wait_for(lambda: len(fake.messages) == 1)
    assert fake.messages[0]["userId"] == "jane@example.com"
    [event] = events(server)
    assert event["envelope"] == envelope


def test_binary_mode_cloudevent_reaches_segment(serve: AppFactory, fake: FakeSegment) -> None:
    server = serve()
    body = payloads.created()
    r = post(server, body, headers=envelopes.binary_headers(envelopes.cloudevent(body)))
    assert r.json()["status"] == "accepted"
    fake.wait_for(lambda: len(fake.messages) == 1)


def test_the_same_message_via_two_envelopes_is_sent_once(
    serve_any: AppFactory, fake: FakeSegment
) -> None:
    server = serve_any()
    body = payloads.created()
    assert post(server, envelopes.pubsub(body)).json()["status"] == "accepted"
    again = post(server, envelopes.sns(body), headers=envelopes.SNS_HEADERS)
    assert again.json()["status"] == "duplicate"
    post(server, payloads.created("c-2", email="two@example.com"))
    fake.wait_for(lambda: len(fake.messages) == 2)
    assert sorted(m["userId"] for m in fake.messages) == ["jane.doe@example.com", "two@example.com"]


def test_a_batch_answers_one_result_per_item(serve_any: AppFactory, fake: FakeSegment) -> None:
    server = serve_any()
    good = payloads.created()
    not_ct = {"hello": "world"}
    grid = envelopes.eventgrid(good, not_ct, good, payloads.created("c-2", email="b@x.org"))
    r = post(server, grid, headers={"aeg-event-type": "Notification"})
    assert r.status_code == 200
    assert r.json()["status"] == "batch"
    statuses = [x["status"] for x in r.json()["results"]]
    assert statuses == ["accepted", "rejected", "duplicate", "accepted"]
    assert "notificationType" in r.json()["results"][1]["reason"]
    fake.wait_for(lambda: len(fake.messages) == 2)


def test_a_cloudevents_batch_is_split(serve: AppFactory, fake: FakeSegment) -> None:
    server = serve()
    batch = [
        envelopes.cloudevent(payloads.created(f"c-{i}", email=f"u{i}@x.org")) for i in range(3)
    ]
    batch.append({"specversion": "1.0", "id": "broken"})
    r = post(server, batch, headers={"content-type": "application/cloudevents-batch+json"})
    statuses = [x["status"] for x in r.json()["results"]]
    assert statuses == ["accepted", "accepted", "accepted", "rejected"]
    fake.wait_for(lambda: len(fake.messages) == 3)


def test_an_unusable_cloud_item_is_kept_as_rejected_and_acknowledged(serve: AppFactory) -> None:
    server = serve()
    garbage = envelopes.pubsub(None, raw=b"not json at all", message_id="4242")
    r = post(server, garbage)
    assert r.status_code == 200
    assert r.json()["status"] == "rejected"
    [event] = events(server)
    assert (event["status"], event["envelope"]) == ("rejected", "pubsub")
    assert "JSON" in event["reason"]
    assert post(server, garbage).json()["status"] == "duplicate"  # the redelivery


def test_a_cloud_route_takes_a_bare_body_as_that_clouds_raw_delivery(
    serve: AppFactory, fake: FakeSegment
) -> None:
    server = serve()
    assert post(server, {"not": "commercetools"}).status_code == 400
    r = post(server, {"not": "commercetools"}, path="/api/webhook/pubsub")
    assert (r.status_code, r.json()["status"]) == (200, "rejected")
    raw = post(
        server,
        payloads.created(),
        path="/api/webhook/sns",
        headers={**envelopes.SNS_HEADERS, "x-amz-sns-rawdelivery": "true"},
    )
    assert raw.json()["status"] == "accepted"
    fake.wait_for(lambda: len(fake.messages) == 1)
    unknown = post(server, {}, path="/api/webhook/nowhere")
    assert unknown.status_code == 404  # no such route; the answer names the known ones
    assert "sns" in unknown.json()["error"]


def test_event_grid_validation_handshake_stores_nothing(serve: AppFactory) -> None:
    server = serve()
    r = post(
        server,
        envelopes.eventgrid_validation("C0DE-1"),
        headers={"aeg-event-type": "SubscriptionValidation"},
    )
    assert (r.status_code, r.json()) == (200, {"validationResponse": "C0DE-1"})
    assert events(server) == []


def test_options_abuse_protection_handshake(serve: AppFactory) -> None:
    server = serve()
    r = httpx.options(
        f"{server.url}/api/webhook",
        headers={"WebHook-Request-Origin": "eventgrid.azure.net"},
        timeout=5,
    )
    assert r.status_code == 200
    assert r.headers["webhook-allowed-origin"] == "eventgrid.azure.net"
    assert r.headers["webhook-allowed-rate"] == "*"
    secured = serve(CTSYNC_WEBHOOK_SECRET="hush")
    url = f"{secured.url}/api/webhook/eventgrid"
    origin = {"WebHook-Request-Origin": "eventgrid.azure.net"}
    assert httpx.options(url, headers=origin, timeout=5).status_code == 401
    ok = httpx.options(url, headers=origin, params={"token": "hush"}, timeout=5)
    assert ok.headers["webhook-allowed-origin"] == "eventgrid.azure.net"


def test_a_401_challenges_for_basic_auth_so_sns_sends_its_credentials(serve: AppFactory) -> None:
    server = serve(CTSYNC_WEBHOOK_SECRET="hush")
    r = post(server, envelopes.sns(payloads.created()), headers=envelopes.SNS_HEADERS)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic")
    ok = post(
        server,
        envelopes.sns(payloads.created()),
        headers=envelopes.SNS_HEADERS,
        auth=("sns", "hush"),
    )
    assert ok.json()["status"] == "accepted"


def test_sns_subscription_is_confirmed_only_on_an_allowed_host(
    serve: AppFactory, https: HttpsServer
) -> None:
    server = serve(CTSYNC_SNS_CERT_HOST=LOOPBACK)
    url = https.serve("/confirm", b"<ConfirmSubscriptionResponse/>")
    confirmation = envelopes.sns_confirmation(url + "?Action=ConfirmSubscription&Token=t")
    headers = {**envelopes.SNS_HEADERS, "x-amz-sns-message-type": "SubscriptionConfirmation"}
    r = post(server, confirmation, headers=headers)
    assert (r.status_code, r.json()) == (200, {"status": "confirmed"})
    assert https.hits == ["/confirm?Action=ConfirmSubscription&Token=t"]
    elsewhere = envelopes.sns_confirmation("https://attacker.example/confirm")
    refused = post(server, elsewhere, headers=headers)
    assert refused.status_code == 400
    assert "not an SNS host" in refused.json()["error"]
    assert https.count("/confirm") == 1
    assert events(server) == []


def test_a_failed_confirmation_says_so(serve: AppFactory, https: HttpsServer) -> None:
    server = serve(CTSYNC_SNS_CERT_HOST=LOOPBACK)
    url = https.serve("/expired", b"token expired", status=403)
    r = post(server, envelopes.sns_confirmation(url), headers=envelopes.SNS_HEADERS)
    assert r.status_code == 502
    assert "403" in r.json()["error"]


def test_unsubscribe_confirmation_is_acknowledged(serve: AppFactory) -> None:
    server = serve()
    bye = envelopes.sns_confirmation("https://sns.x.amazonaws.com/u", "UnsubscribeConfirmation")
    r = post(server, bye, headers=envelopes.SNS_HEADERS)
    assert (r.status_code, r.json()) == (200, {"status": "unsubscribed"})
    assert events(server) == []
