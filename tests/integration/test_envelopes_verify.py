"""Sender checks against real key servers: SNS signatures and Pub/Sub OIDC tokens.

Certificates and keys are our own, served over https on loopback by a CA the
process trusts through SSL_CERT_FILE, exactly as the AWS and Google ones are.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from ctsync.config import Settings
from ctsync.errors import Unauthorized
from ctsync.ingress._fetch import DocumentCache, FetchError
from ctsync.ingress._oidc import PubSubTokenVerifier
from ctsync.web import create_app
from tests import envelopes, payloads
from tests.certs import LOOPBACK, GoogleKeys, HttpsServer, SnsSigner
from tests.helpers import ThreadServer

AUDIENCE = "https://ctsync.example/api/webhook"
ACCOUNT = "push@ctsync-test.iam.gserviceaccount.com"
ADMIN = {"Authorization": "Bearer admin"}
AppFactory = Callable[..., ThreadServer]


@pytest.fixture
def serve(sqlite_url: str) -> Iterator[AppFactory]:
    """The app with no opt-in (so a check is required), in capture mode."""
    servers: list[ThreadServer] = []

    def start(**env: Any) -> ThreadServer:
        settings = Settings(DATABASE_URL=sqlite_url, CTSYNC_ADMIN_TOKEN="admin", **env)
        server = ThreadServer(create_app(settings)).__enter__()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.__exit__(None, None, None)


def post(server: ThreadServer, body: Any, *, sns: bool = True, **kw: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    base = envelopes.SNS_HEADERS if sns else {"content-type": "application/json"}
    headers = {**base, **kw.pop("headers", {})}
    return httpx.post(
        f"{server.url}/api/webhook", content=content, headers=headers, timeout=10, **kw
    )


def stored(server: ThreadServer) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.url}/api/admin/events", headers=ADMIN, timeout=10)
    return list(r.json()["events"])


# --- SNS -----------------------------------------------------------------------------------


@pytest.fixture
def signer(https: HttpsServer) -> SnsSigner:
    return SnsSigner(https)


def sns_app(serve: AppFactory, **env: Any) -> ThreadServer:
    env = {"CTSYNC_SNS_TOPIC_ARN": envelopes.TOPIC_ARN, **env}
    return serve(CTSYNC_SNS_VERIFY="true", CTSYNC_SNS_CERT_HOST=LOOPBACK, **env)


@pytest.mark.parametrize("version", ["1", "2"])
def test_signed_sns_notifications_are_accepted_and_the_certificate_fetched_once(
    version: str, serve: AppFactory, signer: SnsSigner, https: HttpsServer
) -> None:
    server = sns_app(serve)
    for i in range(5):
        body = signer.sign(envelopes.sns(payloads.created(f"c-{i}")), version)
        r = post(server, body)
        assert (r.status_code, r.json()["status"]) == (200, "accepted"), r.text
    assert https.count("/SimpleNotificationService-1.pem") == 1
    assert len(stored(server)) == 5


@pytest.mark.parametrize(
    ("spoil", "needle"),
    [
        (lambda m: {**m, "Message": json.dumps(payloads.created("evil"))}, "does not match"),
        (lambda m: {k: v for k, v in m.items() if k != "Signature"}, "Signature"),
        (lambda m: {**m, "SigningCertURL": "https://attacker.example/x.pem"}, "SNS host"),
        (
            lambda m: {**m, "SigningCertURL": m["SigningCertURL"].replace("-1.pem", "-2.pem")},
            "certificate unavailable",
        ),
        (lambda m: {**m, "SigningCertURL": m["SigningCertURL"].replace("https", "http")}, "https"),
    ],
)
def test_a_badly_signed_sns_message_gets_401_and_nothing_is_stored(
    spoil: Callable[[dict[str, Any]], dict[str, Any]],
    needle: str,
    serve: AppFactory,
    signer: SnsSigner,
) -> None:
    server = sns_app(serve)
    body = spoil(signer.sign(envelopes.sns(payloads.created())))
    r = post(server, body)
    assert r.status_code == 401
    assert needle in r.json()["error"]
    assert stored(server) == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"\xff\xfe",
        b"[]",
        json.dumps(payloads.created()).encode(),
        b"{" * 10_000,
        b" " * (1024 * 1024 + 10),
    ],
)
def test_anything_unproven_malformed_included_gets_401(body: bytes, serve: AppFactory) -> None:
    server = sns_app(serve)
    r = post(server, body, headers={"content-type": "application/xml"})
    assert r.status_code == 401
    assert stored(server) == []


def test_a_signed_confirmation_is_confirmed(
    serve: AppFactory, signer: SnsSigner, https: HttpsServer
) -> None:
    server = sns_app(serve)
    url = https.serve("/confirm", b"ok")
    r = post(server, signer.sign(envelopes.sns_confirmation(url)))
    assert r.json() == {"status": "confirmed"}
    assert https.count("/confirm") == 1
    unsigned = post(server, envelopes.sns_confirmation(url))
    assert unsigned.status_code == 401
    assert https.count("/confirm") == 1


def test_only_the_allowed_topics_may_post(serve: AppFactory, signer: SnsSigner) -> None:
    server = sns_app(serve, CTSYNC_SNS_TOPIC_ARN=envelopes.TOPIC_ARN)
    assert post(server, signer.sign(envelopes.sns(payloads.created()))).status_code == 200
    other = envelopes.sns(
        payloads.created("c-2"), TopicArn="arn:aws:sns:eu-central-1:999999999999:theirs"
    )
    r = post(server, signer.sign(other))
    assert r.status_code == 401
    assert "CTSYNC_SNS_TOPIC_ARN" in r.json()["error"]


def test_raw_delivery_cannot_be_signed_so_it_needs_the_shared_secret(
    serve: AppFactory, signer: SnsSigner
) -> None:
    del signer
    server = sns_app(serve, CTSYNC_WEBHOOK_SECRET="hush")
    raw = {"x-amz-sns-rawdelivery": "true"}
    assert post(server, payloads.created(), headers=raw).status_code == 401
    ok = post(server, payloads.created(), headers=raw, auth=("sns", "hush"))
    assert ok.json()["status"] == "accepted"


def test_the_reason_is_logged_without_the_secret(serve: AppFactory) -> None:
    server = serve(CTSYNC_WEBHOOK_SECRET="hush-hush-123")
    with capture_logs() as logs:
        r = post(server, payloads.created(), headers={"Authorization": "Bearer guess-456"})
    assert r.status_code == 401
    [entry] = [e for e in logs if e["event"] == "sender_unverified"]
    assert "credentials" in entry["reason"]
    flat = json.dumps(logs)
    assert "hush-hush-123" not in flat
    assert "guess-456" not in flat


# --- Pub/Sub OIDC --------------------------------------------------------------------------


@pytest.fixture
def google() -> GoogleKeys:
    return GoogleKeys()


def pubsub_app(
    serve: AppFactory, https: HttpsServer, google: GoogleKeys, **env: Any
) -> ThreadServer:
    certs = https.serve(
        "/oauth2/v1/certs", google.certs_json(), **{"Cache-Control": "public, max-age=19000"}
    )
    env = {"CTSYNC_PUBSUB_SERVICE_ACCOUNT": ACCOUNT, **env}
    return serve(CTSYNC_PUBSUB_AUDIENCE=AUDIENCE, CTSYNC_PUBSUB_CERTS_URL=certs, **env)


def push(server: ThreadServer, token: str | None, body: Any = None, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    envelope = envelopes.pubsub(body or payloads.created())
    return post(server, envelope, sns=False, headers=headers, **kw)


def test_a_valid_pubsub_token_is_accepted_and_the_keys_fetched_once(
    serve: AppFactory, https: HttpsServer, google: GoogleKeys
) -> None:
    server = pubsub_app(serve, https, google)
    for i in range(4):
        r = push(server, google.token(AUDIENCE), payloads.created(f"c-{i}"))
        assert (r.status_code, r.json()["status"]) == (200, "accepted"), r.text
    assert https.count("/oauth2/v1/certs") == 1


@pytest.mark.parametrize(
    ("claims", "needle"),
    [
        ({"aud": "https://elsewhere.example/"}, "audience"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"email": "someone@else.iam.gserviceaccount.com"}, "SERVICE_ACCOUNT"),
        ({"email_verified": False}, "not verified"),
        ({"exp": 1_000_000, "iat": 999_000}, "expired"),
    ],
)
def test_a_wrong_pubsub_token_gets_401(
    claims: dict[str, Any], needle: str, serve: AppFactory, https: HttpsServer, google: GoogleKeys
) -> None:
    server = pubsub_app(serve, https, google)
    r = push(server, google.token(AUDIENCE, **claims))
    assert r.status_code == 401
    assert needle in r.json()["error"]
    assert stored(server) == []


def test_a_token_signed_by_another_key_or_mangled_gets_401(
    serve: AppFactory, https: HttpsServer, google: GoogleKeys
) -> None:
    server = pubsub_app(serve, https, google)
    assert push(server, GoogleKeys().token(AUDIENCE)).status_code == 401
    header, claims, signature = google.token(AUDIENCE).split(".")
    assert push(server, f"{header}.{claims}.{signature[::-1]}").status_code == 401
    assert push(server, "a.b.c").status_code == 401
    assert push(server, None).status_code == 401


def test_with_oidc_on_the_shared_secret_travels_as_token(
    serve: AppFactory, https: HttpsServer, google: GoogleKeys
) -> None:
    server = pubsub_app(serve, https, google, CTSYNC_WEBHOOK_SECRET="hush")
    r = push(server, "not.a.token", params={"token": "hush"})
    assert r.json()["status"] == "accepted"


def test_a_jwks_certs_endpoint_works_too(
    serve: AppFactory, https: HttpsServer, google: GoogleKeys
) -> None:
    jwks = https.serve("/jwks", google.jwks_json())
    server = serve(
        CTSYNC_PUBSUB_AUDIENCE=AUDIENCE,
        CTSYNC_PUBSUB_CERTS_URL=jwks,
        CTSYNC_PUBSUB_SERVICE_ACCOUNT=ACCOUNT,
    )
    assert push(server, google.token(AUDIENCE)).json()["status"] == "accepted"
    assert push(server, GoogleKeys().token(AUDIENCE)).status_code == 401


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rotated_google_keys_are_refetched_but_not_on_every_bad_token(
    https: HttpsServer, google: GoogleKeys
) -> None:
    url = https.serve("/certs", google.certs_json())
    clock = Clock()
    settings = Settings(
        CTSYNC_PUBSUB_AUDIENCE=AUDIENCE,
        CTSYNC_PUBSUB_CERTS_URL=url,
        CTSYNC_PUBSUB_SERVICE_ACCOUNT=ACCOUNT,
    )
    verifier = PubSubTokenVerifier(settings, DocumentCache(clock=clock))
    asyncio.run(verifier.verify(google.token(AUDIENCE)))
    rotated = GoogleKeys()
    https.serve("/certs", rotated.certs_json())
    with pytest.raises(Unauthorized):  # keys fetched a moment ago: no refetch yet
        asyncio.run(verifier.verify(rotated.token(AUDIENCE)))
    assert https.count("/certs") == 1
    clock.now += 301
    asyncio.run(verifier.verify(rotated.token(AUDIENCE)))
    assert https.count("/certs") == 2


# --- the document cache ---------------------------------------------------------------------


def test_cache_shares_one_fetch_honours_max_age_and_keeps_a_stale_copy(
    https: HttpsServer,
) -> None:
    url = https.serve("/doc", b"v1", **{"Cache-Control": "max-age=120"})
    clock = Clock()
    cache = DocumentCache(clock=clock)

    async def many() -> list[bytes]:
        return list(await asyncio.gather(*(cache.get(url) for _ in range(20))))

    assert asyncio.run(many()) == [b"v1"] * 20
    assert https.count("/doc") == 1
    clock.now += 119
    assert asyncio.run(cache.get(url)) == b"v1"
    assert https.count("/doc") == 1
    clock.now += 2
    https.serve("/doc", b"oops", status=500)
    assert asyncio.run(cache.get(url)) == b"v1"  # stale beats nothing
    https.serve("/doc", b"v2")
    assert asyncio.run(cache.get(url)) == b"v2"
    assert https.count("/doc") == 3


def test_cache_refuses_missing_and_oversized_documents(https: HttpsServer) -> None:
    cache = DocumentCache()
    with pytest.raises(FetchError, match="404"):
        asyncio.run(cache.get(https.url + "/nothing"))
    big = https.serve("/big", b"x" * (300 * 1024))
    with pytest.raises(FetchError, match="over"):
        asyncio.run(cache.get(big))
    with pytest.raises(FetchError, match="ConnectError"):
        asyncio.run(cache.get("https://127.0.0.1:1/x.pem"))
