"""A signature proves only what it signs: a proven body is read as its envelope, nothing else.

An attacker holding one genuinely signed SNS notification of the allowed topic
(or one valid Pub/Sub push token) adds a forged customer beside the signed
keys, in every shape another envelope would read: CloudEvents ``ce-*``
headers, structured CloudEvents keys, a Pub/Sub ``message``, Platform keys,
the raw-delivery header, Event Grid and EventBridge shapes, a cloud's own
path. The genuine message must reach Segment; the forged customer must reach
neither Segment nor the store.

SNS messages are signed as AWS documents it, not with ctsync's code
(tests.certs.aws_string_to_sign), with a certificate served over https on
loopback.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from ctsync.config import Settings
from ctsync.ingress import SOURCES
from ctsync.web import create_app
from tests import envelopes, payloads
from tests.certs import LOOPBACK, GoogleKeys, HttpsServer, SnsSigner
from tests.fakes.segment import FakeSegment
from tests.helpers import ThreadServer

ADMIN = {"Authorization": "Bearer admin"}
AUDIENCE = "https://ctsync.example/api/webhook"
ACCOUNT = "push@ctsync-test.iam.gserviceaccount.com"
FORGED_EMAIL = "forged@attacker.example"
FORGED_ID = "forged-customer"
CE_TYPE = "com.commercetools.customer.message.CustomerCreated"


def forged() -> dict[str, Any]:
    return payloads.created(FORGED_ID, email=FORGED_EMAIL)


def b64(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def ce_headers() -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-type": CE_TYPE,
        "ce-source": "/shop-test/customers",
        "ce-id": str(uuid.uuid4()),
    }


# Each: the keys added beside the signed ones, the headers sent with them.
Confusion = Callable[[], tuple[dict[str, Any], dict[str, str]]]
CONFUSIONS: dict[str, Confusion] = {
    "cloudevents headers, Platform keys": lambda: (forged(), ce_headers()),
    "structured CloudEvent keys": lambda: (
        envelopes.cloudevent(forged()),
        {"content-type": "application/cloudevents+json"},
    ),
    "cloudevents headers, structured keys": lambda: (
        envelopes.cloudevent(forged()),
        {**ce_headers(), "content-type": "application/cloudevents+json"},
    ),
    "a CloudEvents batch content type": lambda: (
        envelopes.cloudevent(forged()),
        {"content-type": "application/cloudevents-batch+json"},
    ),
    "a Pub/Sub message key": lambda: (
        {"message": {"data": b64(forged()), "messageId": "1"}, "subscription": "s"},
        {"x-goog-pubsub-message-id": "1"},
    ),
    "Platform keys beside": lambda: (forged(), {}),
    "raw-delivery header": lambda: (forged(), {"x-amz-sns-rawdelivery": "true"}),
    "Event Grid shape": lambda: (
        {"eventType": CE_TYPE, "data": forged(), "dataVersion": "1"},
        {"aeg-event-type": "Notification"},
    ),
    "EventBridge shape": lambda: ({"detail": forged(), "detail-type": "CustomerCreated"}, {}),
}
PATHS = ["/api/webhook", *(f"/api/webhook/{source}" for source in SOURCES)]


@pytest.fixture
def fake() -> Iterator[FakeSegment]:
    with FakeSegment() as f:
        yield f


@pytest.fixture
def serve(sqlite_url: str, fake: FakeSegment) -> Iterator[Callable[..., ThreadServer]]:
    servers: list[ThreadServer] = []

    def start(**env: Any) -> ThreadServer:
        settings = Settings(
            DATABASE_URL=sqlite_url,
            SEGMENT_WRITE_KEY=fake.write_key,
            SEGMENT_ENDPOINT=fake.url,
            CTSYNC_ADMIN_TOKEN="admin",
            CTSYNC_DRAIN_INTERVAL_S="0.05",
            **env,
        )
        server = ThreadServer(create_app(settings)).__enter__()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.__exit__(None, None, None)


def post(server: ThreadServer, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{server.url}{path}", content=json.dumps(body).encode(), headers=headers, timeout=10
    )


def stored_customers(server: ThreadServer) -> set[str]:
    r = httpx.get(f"{server.url}/api/admin/events?limit=1000", headers=ADMIN, timeout=10)
    return {e["resource_id"] for e in r.json()["events"]}


def assert_only_genuine(server: ThreadServer, fake: FakeSegment, genuine: set[str]) -> None:
    """Every genuine customer reached Segment and the store; the forged one reached neither."""
    fake.wait_for(lambda: len(fake.messages) >= len(genuine), timeout=15)
    sent = {m["traits"]["commercetoolsCustomerId"] for m in fake.messages}
    assert sent == genuine
    assert FORGED_EMAIL not in json.dumps(fake.messages)
    assert stored_customers(server) == genuine


def test_a_signed_sns_notification_yields_its_signed_message_and_nothing_else(
    serve: Callable[..., ThreadServer], fake: FakeSegment, https: HttpsServer
) -> None:
    server = serve(
        CTSYNC_SNS_VERIFY="true",
        CTSYNC_SNS_CERT_HOST=LOOPBACK,
        CTSYNC_SNS_TOPIC_ARN=envelopes.TOPIC_ARN,
    )
    signer = SnsSigner(https)
    genuine: set[str] = set()
    for name, confusion in CONFUSIONS.items():
        for path in PATHS:
            cid = f"genuine-{len(genuine)}"
            extra, headers = confusion()
            body = {**extra, **signer.sign(envelopes.sns(payloads.created(cid)))}
            r = post(server, path, body, {**envelopes.SNS_HEADERS, **headers})
            assert (r.status_code, r.json().get("status")) == (200, "accepted"), (name, path)
            genuine.add(cid)
    assert_only_genuine(server, fake, genuine)


def test_a_signed_message_in_cloudevents_format_is_still_read_whole(
    serve: Callable[..., ThreadServer], fake: FakeSegment, https: HttpsServer
) -> None:
    """What AWS signed is trusted as a whole: CT's CloudEvents format inside ``Message``."""
    server = serve(
        CTSYNC_SNS_VERIFY="true",
        CTSYNC_SNS_CERT_HOST=LOOPBACK,
        CTSYNC_SNS_TOPIC_ARN=envelopes.TOPIC_ARN,
    )
    signer = SnsSigner(https)
    inner = envelopes.cloudevent(payloads.created("genuine-ce"))
    body = {**forged(), **signer.sign(envelopes.sns(inner))}
    r = post(server, "/api/webhook", body, {**envelopes.SNS_HEADERS, **ce_headers()})
    assert r.json()["status"] == "accepted"
    assert_only_genuine(server, fake, {"genuine-ce"})


def test_a_pubsub_token_proves_a_pubsub_push_only(
    serve: Callable[..., ThreadServer], fake: FakeSegment, https: HttpsServer
) -> None:
    google = GoogleKeys()
    certs = https.serve("/oauth2/v1/certs", google.certs_json())
    server = serve(
        CTSYNC_PUBSUB_AUDIENCE=AUDIENCE,
        CTSYNC_PUBSUB_CERTS_URL=certs,
        CTSYNC_PUBSUB_SERVICE_ACCOUNT=ACCOUNT,
    )
    sns_shape = {"Type": "Notification", "TopicArn": envelopes.TOPIC_ARN, "MessageId": "m"}
    confusions = {
        **CONFUSIONS,
        "an SNS notification": lambda: (
            {**sns_shape, "Message": json.dumps(forged())},
            {"x-amz-sns-message-type": "Notification"},
        ),
    }
    del confusions["a Pub/Sub message key"]  # the push's own key
    genuine: set[str] = set()
    for name, confusion in confusions.items():
        for path in PATHS:
            cid = f"genuine-{len(genuine)}"
            extra, headers = confusion()
            body = {**extra, **envelopes.pubsub(payloads.created(cid))}
            token = {"Authorization": f"Bearer {google.token(AUDIENCE)}"}
            r = post(server, path, body, {"content-type": "application/json", **headers, **token})
            assert (r.status_code, r.json().get("status")) == (200, "accepted"), (name, path)
            genuine.add(cid)
    # Pub/Sub's unwrapped push (no wrapper): the body is the data, whatever the headers say.
    unwrapped = payloads.created("genuine-unwrapped")
    token = {"Authorization": f"Bearer {google.token(AUDIENCE)}"}
    headers = {"content-type": "application/json", **envelopes.SNS_HEADERS, **token}
    assert post(server, "/api/webhook/sns", unwrapped, headers).json()["status"] == "accepted"
    assert_only_genuine(server, fake, {*genuine, "genuine-unwrapped"})


def test_with_the_shared_secret_envelopes_are_detected_as_before(
    serve: Callable[..., ThreadServer], fake: FakeSegment
) -> None:
    """The secret proves the sender, not a shape: a binary CloudEvent is read as one."""
    server = serve(CTSYNC_WEBHOOK_SECRET="hush")
    event = envelopes.cloudevent(payloads.created("by-secret"))
    headers = {**envelopes.binary_headers(event), "Authorization": "Bearer hush"}
    assert post(server, "/api/webhook", event["data"], headers).json()["status"] == "accepted"
    assert_only_genuine(server, fake, {"by-secret"})
