"""End to end: the real app under uvicorn on loopback, delivering to our fake Segment."""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from ctsync.config import Settings
from ctsync.store import open_store
from ctsync.store._sqlite import sqlite_path
from ctsync.web import create_app
from tests import envelopes, payloads
from tests.fakes.segment import Answer, FakeSegment
from tests.helpers import ThreadServer, postgres_database, wait_for

FAST_RETRY = {
    "CTSYNC_RETRY_BASE_S": "0.02",
    "CTSYNC_RETRY_CAP_S": "0.2",
    "CTSYNC_DRAIN_INTERVAL_S": "0.05",
}


@pytest.fixture
def fake() -> Iterator[FakeSegment]:
    with FakeSegment() as f:
        yield f


AppFactory = Callable[..., ThreadServer]


@pytest.fixture
def serve(db_url: str, fake: FakeSegment) -> Iterator[AppFactory]:
    """Start the real app with settings on top of: this store, the fake's endpoint and key."""
    servers: list[ThreadServer] = []

    def start(**env: Any) -> ThreadServer:
        values = {
            "DATABASE_URL": db_url,
            "SEGMENT_ENDPOINT": fake.url,
            "SEGMENT_WRITE_KEY": fake.write_key,
            "CTSYNC_ALLOW_UNVERIFIED": "true",  # a local trial: no credentials to send
            **FAST_RETRY,
            **env,
        }
        values = {k: v for k, v in values.items() if v is not None}
        settings = Settings(**values)
        server = ThreadServer(create_app(settings)).__enter__()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.__exit__(None, None, None)


def post(server: ThreadServer, body: Any, **kw: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json", **kw.pop("headers", {})}
    return httpx.post(
        f"{server.url}/api/webhook", content=content, headers=headers, timeout=10, **kw
    )


def admin(server: ThreadServer, path: str) -> Any:
    return httpx.get(f"{server.url}/api/admin/{path}", timeout=10).json()


def test_a_customer_created_reaches_segment_as_identify(
    serve: AppFactory, fake: FakeSegment
) -> None:
    server = serve()
    r = post(server, payloads.created(email="  Jane.Doe@Example.COM "))
    assert r.status_code == 200
    assert r.json()["status"] == "accepted"
    fake.wait_for(lambda: len(fake.messages) == 1)
    [msg] = fake.messages
    assert msg["type"] == "identify"
    assert msg["userId"] == "jane.doe@example.com"
    assert msg["traits"]["name"] == "Jane Doe"
    assert msg["traits"]["address"] == {
        "street": "Hauptstr. 5",
        "city": "Berlin",
        "postalCode": "10115",
        "country": "DE",
    }
    assert msg["messageId"] == r.json()["messageIds"][0]
    assert fake.silently_dropped() == []


def test_a_redelivered_message_sends_nothing_new(serve: AppFactory, fake: FakeSegment) -> None:
    server = serve()
    payload = payloads.created()
    assert post(server, payload).json()["status"] == "accepted"
    fake.wait_for(lambda: len(fake.messages) == 1)
    again = post(server, payload)
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    post(server, payloads.created("c-2", email="other@example.com"))
    fake.wait_for(lambda: len(fake.messages) == 2)
    assert len(set(fake.message_ids())) == 2


def test_a_segment_outage_loses_nothing(serve: AppFactory, fake: FakeSegment) -> None:
    server = serve()
    fake.down()
    for i in range(30):
        assert (
            post(server, payloads.created(f"c-{i}", email=f"u{i}@example.com")).status_code == 200
        )
    fake.wait_for(lambda: fake.stats()["by_status"].get("503", 0) >= 2)
    assert fake.messages == []
    fake.up()
    fake.wait_for(lambda: len(set(fake.message_ids())) == 30, timeout=20)
    wait_for(
        lambda: admin(server, "stats")["messages"] == {"delivered": 30},
        what="every message settled as delivered",
    )


def test_5xx_and_429_are_retried_honouring_retry_after(
    serve: AppFactory, fake: FakeSegment
) -> None:
    server = serve(CTSYNC_RETRY_CAP_S="1")  # Retry-After is honoured up to the cap
    fake.script([500, Answer(429, retry_after=0.3), 502])
    r = post(server, payloads.created())
    fake.wait_for(lambda: len(fake.messages) == 1, timeout=15)
    event = admin(server, f"events/{r.json()['eventId']}")
    [message] = event["messages"]
    codes = [a["status_code"] for a in message["attempts_log"]]
    assert codes == [500, 429, 502, 200]
    assert message["status"] == "delivered"
    requests = fake.requests
    # the retry after the 429 came no sooner than its Retry-After
    assert requests[2].at - requests[1].at >= 0.29


def test_a_rejected_batch_becomes_dead_letters_with_the_response_then_replays(
    serve: AppFactory, fake: FakeSegment
) -> None:
    server = serve()
    fake.script([400])
    post(server, payloads.created())
    wait_for(lambda: admin(server, "messages?status=dead")["messages"], what="dead letter")
    [dead] = admin(server, "messages?status=dead")["messages"]
    assert "400" in dead["last_error"]
    r = httpx.post(f"{server.url}/api/admin/replay", json={"all": True}, timeout=10)
    assert r.json() == {"replayed": 1}
    fake.wait_for(lambda: len(fake.messages) == 1)
    assert fake.messages[0]["messageId"] == dead["message_id"]


def test_a_rejection_with_binary_garbage_still_becomes_a_dead_letter_with_its_reason(
    serve: AppFactory, fake: FakeSegment
) -> None:
    # A proxy in front of Segment may answer anything; a NUL byte cannot be stored
    # as text (PostgreSQL refuses it), and the outcome must be stored all the same.
    server = serve()
    fake.script([Answer(400, body=b"bad\x00request\xff")])
    post(server, payloads.created())
    [dead] = wait_for(lambda: admin(server, "messages?status=dead")["messages"], what="dead")
    assert "400" in dead["last_error"]
    assert "bad" in dead["last_error"]
    assert "request" in dead["last_error"]
    assert "\x00" not in dead["last_error"]


def test_one_bad_message_does_not_sink_its_batch_mates(
    serve: AppFactory, fake: FakeSegment
) -> None:
    server = serve()
    huge = "x" * 40_000
    post(server, payloads.created("c-big", email="big@example.com", firstName=huge))
    post(server, payloads.created("c-ok", email="ok@example.com"))
    fake.wait_for(lambda: len(fake.messages) == 1)
    dead = wait_for(lambda: admin(server, "messages?status=dead")["messages"], what="dead")
    assert "32" in dead[0]["last_error"]
    assert fake.messages[0]["userId"] == "ok@example.com"


def test_capture_mode_stores_what_it_would_send(serve: AppFactory, fake: FakeSegment) -> None:
    server = serve(SEGMENT_WRITE_KEY=None)
    r = post(server, payloads.created())
    assert r.json()["status"] == "accepted"
    captured = wait_for(
        lambda: admin(server, "messages?status=captured")["messages"], what="captured"
    )
    assert captured[0]["body"]["userId"] == "jane.doe@example.com"
    assert fake.requests == []


@pytest.mark.parametrize(
    ("body", "headers", "status", "needle"),
    [
        (b"", {}, 400, "empty"),
        (b"{not json", {}, 400, "JSON"),
        (b"[1, 2]", {}, 400, "array"),
        (b'"text"', {}, 400, "object"),
        (b'{"notificationType": "Message"}', {}, 400, "resource"),
        (
            json.dumps(payloads.message("CustomerCreated", customer={"id": "c"})).encode(),
            {},
            400,
            "email",
        ),
        (b'{"a": NaN}', {}, 400, ""),
        (b"\xff\xfe", {}, 400, ""),
        (b"{}", {"content-type": "application/x-www-form-urlencoded"}, 415, "content type"),
        (b"{" * 100_000, {}, 400, "deep"),
        (b" " * (1024 * 1024 + 1), {}, 413, ""),
        (gzip.compress(b" " * (3 * 1024 * 1024)), {"content-encoding": "gzip"}, 413, ""),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_the_service_keeps_working(
    serve: AppFactory,
    fake: FakeSegment,
    body: bytes,
    headers: dict[str, str],
    status: int,
    needle: str,
) -> None:
    server = serve()
    r = post(server, body, headers=headers)
    assert r.status_code == status, r.text
    assert needle.lower() in r.json()["error"].lower()
    assert post(server, payloads.created()).json()["status"] == "accepted"
    fake.wait_for(lambda: len(fake.messages) == 1)


def test_other_methods_get_405(serve: AppFactory) -> None:
    server = serve()
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        r = httpx.request(method, f"{server.url}/api/webhook", timeout=5)
        assert r.status_code == 405
        assert "error" in r.json()


def test_change_notification_without_credentials_is_failed_with_a_reason(
    serve: AppFactory,
) -> None:
    server = serve()
    r = post(server, payloads.change())
    assert r.status_code == 200
    assert r.json()["status"] == "failed"
    assert "CTP_" in r.json()["reason"]


def test_the_subscription_test_message_is_ignored(serve: AppFactory) -> None:
    server = serve()
    body = payloads.change("ResourceCreated", "sub-1", version=1)
    body["resource"]["typeId"] = "subscription"
    r = post(server, body)
    assert r.json()["status"] == "ignored"


def test_the_seed_format_is_accepted(serve: AppFactory, fake: FakeSegment) -> None:
    server = serve()
    assert post(server, payloads.seed()).json()["status"] == "accepted"
    fake.wait_for(lambda: len(fake.messages) == 1)
    assert fake.messages[0]["traits"]["email"] == "jane.doe@example.com"


def test_serverless_mode_delivers_before_answering(serve: AppFactory, fake: FakeSegment) -> None:
    server = serve(CTSYNC_INLINE_DELIVERY="true")
    post(server, payloads.created())
    assert len(fake.messages) == 1  # no waiting: delivered on the request path


def test_cron_drain_requires_the_secret_and_accepts_get(
    serve: AppFactory, fake: FakeSegment
) -> None:
    server = serve(CTSYNC_INLINE_DELIVERY="true", CRON_SECRET="s3cret")
    fake.down()
    post(server, payloads.created())
    fake.up()
    assert httpx.get(f"{server.url}/api/cron/drain", timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.get(f"{server.url}/api/cron/drain", headers=wrong, timeout=10).status_code == 401
    ok = {"Authorization": "Bearer s3cret"}

    def drained() -> bool:
        r = httpx.get(f"{server.url}/api/cron/drain", headers=ok, timeout=10)
        assert r.status_code == 200
        return len(fake.messages) == 1

    wait_for(drained, what="cron drain to deliver")


def test_a_shared_secret_lets_in_only_who_knows_it(serve: AppFactory) -> None:
    server = serve(CTSYNC_WEBHOOK_SECRET="hush")
    assert post(server, payloads.created()).status_code == 401
    bearer = post(server, payloads.created(), headers={"Authorization": "Bearer hush"})
    assert bearer.json()["status"] == "accepted"
    query = post(server, payloads.created("c-2"), params={"token": "hush"})
    assert query.json()["status"] == "accepted"
    basic = post(server, payloads.created("c-3"), auth=("ctsync", "hush"))
    assert basic.json()["status"] == "accepted"


def test_health_ready_and_metrics(serve: AppFactory, fake: FakeSegment) -> None:
    server = serve()
    assert httpx.get(f"{server.url}/api/health").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/api/ready").json()["status"] == "ready"
    post(server, payloads.created())
    fake.wait_for(lambda: len(fake.messages) == 1)
    text = wait_for(
        lambda: (
            (t := httpx.get(f"{server.url}/metrics").text)
            and 'ctsync_messages_total{status="delivered"}' in t
            and t
        )
    )
    assert 'ctsync_events_total{envelope="direct",status="accepted"}' in text


def test_the_webhook_answers_503_when_the_event_cannot_be_stored(
    fake: FakeSegment, pg_template: str
) -> None:
    with postgres_database(pg_template) as url:
        settings = Settings(
            DATABASE_URL=url,
            SEGMENT_ENDPOINT=fake.url,
            SEGMENT_WRITE_KEY=fake.write_key,
            CTSYNC_STORE_TIMEOUT_S="2",
            CTSYNC_ALLOW_UNVERIFIED="true",
        )
        with ThreadServer(create_app(settings)) as server:
            assert post(server, payloads.created()).status_code == 200
            admin_conn = open_store(url)
            admin_conn.close()
            import psycopg

            with psycopg.connect(url.rsplit("/", 1)[0] + "/test", autocommit=True) as c:
                c.execute(f"DROP DATABASE {url.rsplit('/', 1)[1]} WITH (FORCE)")
            r = post(server, payloads.created("c-2"))
            assert r.status_code == 503
            assert r.headers["retry-after"]
            assert "stored" in r.json()["error"]
            with psycopg.connect(url.rsplit("/", 1)[0] + "/test", autocommit=True) as c:
                c.execute(f"CREATE DATABASE {url.rsplit('/', 1)[1]}")


def test_a_locked_sqlite_store_answers_503_and_the_retry_is_recorded(
    sqlite_url: str, fake: FakeSegment
) -> None:
    settings = Settings(
        DATABASE_URL=sqlite_url,
        SEGMENT_ENDPOINT=fake.url,
        SEGMENT_WRITE_KEY=fake.write_key,
        CTSYNC_STORE_TIMEOUT_S="1",
        CTSYNC_ALLOW_UNVERIFIED="true",
    )
    delivery = payloads.created()
    with ThreadServer(create_app(settings)) as server:
        # Another process holds the write lock longer than the store waits for it.
        with sqlite3.connect(sqlite_path(sqlite_url), isolation_level=None) as other:
            other.execute("BEGIN EXCLUSIVE")
            r = post(server, delivery)
            other.execute("ROLLBACK")
        assert r.status_code == 503
        assert r.headers["retry-after"]
        assert "stored" in r.json()["error"]
        again = post(server, delivery)  # what commercetools does next: the same delivery
        # The first attempt may still have committed once the lock was gone (it
        # was queued when the 503 went out): then the retry finds it recorded.
        assert again.json()["status"] in {"accepted", "duplicate"}
        fake.wait_for(lambda: len(fake.messages) == 1)
        assert admin(server, "stats")["events"] == {"accepted": 1}


LONG = "".join(f"{i:04x}" for i in range(2500))  # 10,000 characters


@pytest.mark.parametrize("field", ["id", "type", "projectKey", "createdAt"])
@pytest.mark.parametrize("junk", ["\u0000", LONG], ids=["nul", "long"])
def test_an_identifier_the_store_cannot_keep_is_a_400_naming_it_not_a_503(
    serve: AppFactory, field: str, junk: str
) -> None:
    # PostgreSQL cannot store a NUL in text, nor index a long value: a 503 would
    # make the sender retry for ever.
    server = serve()
    delivery = payloads.created()
    delivery[field] += junk
    r = post(server, delivery)
    assert r.status_code == 400
    assert field in r.json()["error"]
    assert post(server, payloads.created()).json()["status"] == "accepted"


def test_an_email_too_long_to_be_one_is_recorded_as_failed_not_a_503(
    serve: AppFactory,
) -> None:
    server = serve()
    r = post(server, payloads.created(email=f"{LONG}@example.com"))
    assert r.status_code == 200
    assert r.json()["status"] == "failed"
    assert "longer than" in r.json()["reason"]


def test_a_nul_in_the_seed_formats_project_key_is_a_400_too(serve: AppFactory) -> None:
    server = serve()
    r = post(server, payloads.seed() | {"projectKey": "shop\u0000"})  # found by the fuzzer
    assert r.status_code == 400
    assert "projectKey" in r.json()["error"]


def test_a_nul_in_the_email_is_recorded_as_failed_not_a_503(serve: AppFactory) -> None:
    server = serve()
    r = post(server, payloads.created(email="jane\u0000@example.com"))
    assert r.status_code == 200
    assert r.json()["status"] == "failed"
    assert "NUL" in r.json()["reason"]


def test_a_nul_inside_a_cloud_envelope_is_kept_as_rejected(serve: AppFactory) -> None:
    server = serve()
    delivery = payloads.created()
    delivery["resource"]["id"] = "c-\u0000"
    r = post(server, envelopes.pubsub(delivery))
    assert r.status_code == 200
    assert r.json()["status"] == "rejected"
    assert "resource.id" in r.json()["reason"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("events?customer=c%00", "customer"),
        ("events?email=a%00b@example.com", "email"),
        ("events?status=accepted%00", "status"),
        ("events?status=nonsense", "status"),
        ("messages?status=dead%00", "status"),
        (f"events?customer={'c' * 400}", "customer"),
    ],
)
def test_an_admin_filter_no_store_can_use_is_a_400_naming_it(
    serve: AppFactory, query: str, named: str
) -> None:
    server = serve()
    r = httpx.get(f"{server.url}/api/admin/{query}", timeout=10)
    assert r.status_code == 400
    assert r.json()["error"].startswith(named)


def test_an_unknown_cloud_route_is_a_404_that_names_the_known_ones(serve: AppFactory) -> None:
    server = serve()
    r = httpx.post(f"{server.url}/api/webhook/carrier-pigeon", json=payloads.created())
    assert r.status_code == 404
    assert "pubsub" in r.json()["error"]


def test_admin_transform_is_a_dry_run_that_reports_unusable_items(serve: AppFactory) -> None:
    import base64

    server = serve()
    url = f"{server.url}/api/admin/transform"
    good = httpx.post(url, json=payloads.created()).json()["results"]
    assert [(r["status"], [m["type"] for m in r["messages"]]) for r in good] == [
        ("accepted", ["identify"])
    ]
    junk = base64.b64encode(b"not json").decode()
    pubsub = {"message": {"data": junk, "messageId": "1"}, "subscription": "projects/p/s"}
    [bad] = httpx.post(url, json=pubsub).json()["results"]
    assert bad["status"] == "rejected"
    assert bad["reason"]
    assert admin(server, "stats")["events"] == {}  # nothing was stored


# --- the proof of concept's payloads (issue 14 §1) -------------------------------------


@pytest.mark.parametrize("framed", [False, True], ids=["bare", "with-resource"])
@pytest.mark.parametrize(
    "kind", ["CustomerCreated", "CustomerUpdated", "customer.created", "customer.updated"]
)
def test_a_seed_update_with_a_full_customer_refreshes_every_trait(
    serve: AppFactory, fake: FakeSegment, kind: str, framed: bool
) -> None:
    server = serve()
    assert post(server, payloads.created()).json()["status"] == "accepted"
    update = payloads.seed(version=2, kind=kind)
    if framed:  # as a Platform message: id, resource, resourceVersion beside the customer
        update = {**payloads.message(kind, version=2), "customer": update["customer"]}
    update["customer"]["lastName"] = "Smith"
    r = post(server, update)
    assert r.status_code == 200
    assert r.json()["status"] == "accepted", r.json()
    fake.wait_for(lambda: len(fake.messages) == 2)
    assert [m["type"] for m in fake.messages] == ["identify", "identify"]
    traits = fake.messages[1]["traits"]
    assert traits["lastName"] == "Smith"
    assert traits["name"] == "Jane Smith"
    assert traits["address"]["city"] == "Berlin"


def test_a_seed_message_with_resource_and_no_customer_id_is_a_snapshot(
    serve: AppFactory, fake: FakeSegment
) -> None:
    """The customer id comes from resource.id, the version from resourceVersion."""
    from ctsync.mapping import plan_customer_read

    server = serve()
    customer = payloads.customer("c-seed", version=5)
    del customer["id"], customer["version"]
    body = {
        "notificationType": "Message",
        "type": "customer.updated",
        "projectKey": payloads.PROJECT,
        "resource": {"typeId": "customer", "id": "c-seed"},
        "resourceVersion": 5,
        "customer": customer,
    }
    r = post(server, body)
    assert r.json()["status"] == "accepted", r.json()
    fake.wait_for(lambda: len(fake.messages) == 1)
    [msg] = fake.messages
    assert msg["traits"]["commercetoolsCustomerId"] == "c-seed"
    # the same version read through the API (or a backfill) is the same Segment call
    read = plan_customer_read(payloads.PROJECT, payloads.customer("c-seed", version=5), None)
    assert msg["messageId"] == read.messages[0].message_id


def test_a_customer_id_that_contradicts_the_resource_is_a_400(serve: AppFactory) -> None:
    body = payloads.created("c-1")
    body["customer"]["id"] = "c-2"
    r = post(serve(), body)
    assert r.status_code == 400
    assert "resource.id" in r.json()["error"]


# --- distinct messages of one update get distinct messageIds (issue 14 §4) -------------


def test_two_address_removals_of_one_update_are_both_applied(
    serve: AppFactory, fake: FakeSegment
) -> None:
    server = serve()
    book = [
        {"id": a, "country": "DE", "city": city}
        for a, city in (("a1", "Berlin"), ("a2", "Hamburg"), ("a3", "Munich"))
    ]
    created = payloads.created(email="jane@example.com", addresses=book)
    assert post(server, created).json()["status"] == "accepted"
    # one update request with two removeAddress actions: one resourceVersion, two messages
    first = payloads.message("CustomerAddressRemoved", version=2, address=book[0])
    second = payloads.message("CustomerAddressRemoved", version=2, address=book[1])
    first["sequenceNumber"], second["sequenceNumber"] = 2, 3
    answers = [post(server, first).json(), post(server, second).json()]
    assert [a["status"] for a in answers] == ["accepted", "accepted"], answers
    fake.wait_for(lambda: len(fake.messages) == 3)
    ids = {m["messageId"] for m in fake.messages}
    assert len(ids) == 3
    assert fake.messages[-1]["traits"]["address"]["city"] == "Munich"


def test_a_released_waiting_delta_keeps_its_messageid(serve: AppFactory, fake: FakeSegment) -> None:
    """A delta that waited for its snapshot gets the id it would have had live."""
    from ctsync.ingress import parse_ct_payload
    from ctsync.mapping import plan_customer_read, plan_event

    server = serve()
    delta = payloads.first_name_set(version=2)
    delta["sequenceNumber"] = 7  # not the version: the id must come from the message
    assert post(server, delta).json()["status"] == "waiting"
    assert post(server, payloads.created()).json()["status"] == "accepted"
    fake.wait_for(lambda: len(fake.messages) == 2)
    state = plan_customer_read(payloads.PROJECT, payloads.customer(), None).state
    live = plan_event(parse_ct_payload(delta), state)
    assert live.messages[0].message_id in {m["messageId"] for m in fake.messages}
