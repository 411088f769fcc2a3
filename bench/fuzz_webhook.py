"""Fuzz the webhook: mutated deliveries in every envelope, counting the 5xx answers (must be 0).

    uv run python -m bench.fuzz_webhook [--count 100000] [--seed 1] [--concurrency 16]

The real app runs in process (called as an ASGI app, its lifespan entered by
hand) on a fresh SQLite store, in capture mode, without the background
drainer. Seeds are the deliveries in examples/ wrapped in each envelope; each
request mutates one seed: bytes flipped, inserted, cut or spliced, a JSON value
swapped for a hostile one (NaN, 1e999, 30-digit integers, lone surrogates, deep
nesting, duplicate keys), invalid UTF-8, gzip, odd headers and routes. Exits 1
when any answer is a 5xx, printing a few of them to reproduce.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gzip
import json
import logging
import random
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
JSON = {"content-type": "application/json"}
SNS = {"content-type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}
ROUTES = ["/api/webhook"] * 6 + [
    f"/api/webhook/{s}" for s in ("pubsub", "sns", "eventgrid", "cloudevents", "eventbridge")
]
# fmt: off
HOSTILE_VALUES: list[Any] = [
    None, [], {}, 0, -1, 2**63, 10**30, 1.5, "", "x" * 5000, True, "\u0000", "😀",
    {"typeId": [], "id": {}}, [[[[[]]]]], "notificationType",
]
HOSTILE_TOKENS = [
    b"NaN", b"Infinity", b"-Infinity", b"1e999", b"1" + b"0" * 40, b'"\\ud800"', b'"\\udfff x"',
    b"[" * 200 + b"]" * 200, b"{" * 70, b'{"a":1,"a":2}', b"\xff\xfe", b"\xc3", b"\x00", b"",
    b'"' + b"\\" * 7, b"tru", b"nul", b"-", b"0x10", b"01",
]
CONTENT_TYPES = [
    "application/json", "text/plain", "application/cloudevents+json",
    "application/cloudevents-batch+json", "application/octet-stream", "",
    "application/x-www-form-urlencoded", "text/html", "application/problem+json",
]
# fmt: on
ODD_HEADERS: list[dict[str, str]] = [
    {"ce-specversion": "1.0", "ce-id": "x", "ce-type": "t", "ce-source": "/s"},
    {"ce-specversion": "0.3", "ce-time": "not a time"},
    {"ce-specversion": "1.0", "ce-id": "", "ce-type": "", "ce-source": "", "ce-time": "%ff"},
    {"x-amz-sns-message-type": "SubscriptionConfirmation"},
    {"x-amz-sns-rawdelivery": "true", "x-amz-sns-message-id": "m"},
    {"x-goog-pubsub-message-id": "1", "x-goog-pubsub-subscription-name": "s"},
    {"aeg-event-type": "SubscriptionValidation"},
    {"aeg-event-type": "Notification"},
    {"content-encoding": "gzip"},
    {"content-encoding": "deflate"},
    {"content-encoding": "br"},
    {"authorization": "Bearer a.b.c"},
    {"authorization": "Basic %%%"},
]


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Tally:
    by_status: Counter[int] = field(default_factory=Counter)
    server_errors: list[tuple[Request, int, str]] = field(default_factory=list)


# --- seeds ----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _cloudevent(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": payload.get("id") or str(uuid.uuid4()),
        "type": f"com.commercetools.customer.message.{payload.get('type', 'X')}",
        "source": f"/{payload.get('projectKey', 'p')}/customers",
        "time": "2026-11-01T10:00:00.000Z",
        "data": payload,
    }


def _wrappers(p: dict[str, Any]) -> list[Request]:
    """One delivery, as each envelope carries it."""
    text = json.dumps(p).encode()
    ce = _cloudevent(p)
    ce_headers = {f"ce-{k}": str(v) for k, v in ce.items() if k != "data"}
    # fmt: off
    pubsub = {"message": {"data": _b64(text), "messageId": "1", "attributes": {}},
              "subscription": "projects/p/subscriptions/s"}
    sns = {"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:x:1:t",
           "Message": text.decode(), "Timestamp": "2026-11-01T10:00:00Z"}
    grid = [{"id": "g-1", "eventType": "com.commercetools.customer.message.X", "subject": "s",
             "eventTime": "2026-11-01T10:00:00Z", "data": p, "dataVersion": "1"}]
    bridge = {"version": "0", "id": "e-1", "detail-type": "Message", "source": "aws.partner/x",
              "detail": p}
    confirm = {**sns, "Type": "SubscriptionConfirmation", "Token": "t",
               "SubscribeURL": "https://not-an-sns-host.example/confirm"}
    validation = [{"id": "v", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                   "data": {"validationCode": "code"}, "dataVersion": "2"}]
    # fmt: on
    dump = json.dumps
    return [
        Request("/api/webhook", JSON, text),
        Request("/api/webhook", JSON, dump(pubsub).encode()),
        Request("/api/webhook/pubsub", {**JSON, "x-goog-pubsub-message-id": "7"}, text),
        Request("/api/webhook", SNS, dump(sns).encode()),
        Request("/api/webhook/sns", {**SNS, "x-amz-sns-rawdelivery": "true"}, text),
        Request("/api/webhook", SNS, dump(confirm).encode()),
        Request(
            "/api/webhook", {"content-type": "application/cloudevents+json"}, dump(ce).encode()
        ),
        Request(
            "/api/webhook",
            {"content-type": "application/cloudevents-batch+json"},
            dump([ce, ce]).encode(),
        ),
        Request("/api/webhook", {**ce_headers, **JSON}, text),
        Request("/api/webhook", {**JSON, "aeg-event-type": "Notification"}, dump(grid).encode()),
        Request("/api/webhook", JSON, dump(validation).encode()),
        Request("/api/webhook", JSON, dump(bridge).encode()),
    ]


def seeds() -> list[Request]:
    """Every example delivery in every envelope."""
    found: list[Request] = []
    for path in sorted(EXAMPLES.glob("*.json")):
        found.extend(_wrappers(json.loads(path.read_text())))
    return found


# --- mutations ------------------------------------------------------------------------------


def _swap_value(body: bytes, rng: random.Random) -> bytes:
    """Replace one value somewhere in the JSON with a hostile one."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    parents: list[Any] = []
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict | list) and node:
            parents.append(node)
            stack.extend(node.values() if isinstance(node, dict) else node)
    if not parents:
        return body
    parent = rng.choice(parents)
    key: Any = rng.choice(list(parent)) if isinstance(parent, dict) else rng.randrange(len(parent))
    value = rng.choice(HOSTILE_VALUES)
    parent[key] = value
    return json.dumps(data).encode()


def _token(body: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(body) + 1)
    cut = at + rng.randrange(0, 8)
    return body[:at] + rng.choice(HOSTILE_TOKENS) + body[cut:]


def _flip(body: bytes, rng: random.Random) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 8)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _insert_noise(body: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(body) + 1)
    return body[:at] + bytes(rng.randrange(256) for _ in range(9)) + body[at:]


BYTE_MUTATIONS: list[Callable[[bytes, random.Random], bytes]] = [
    _swap_value,
    _swap_value,
    _token,
    _token,
    _flip,
    lambda b, r: b[: r.randrange(len(b) + 1)],  # truncate
    lambda b, r: b + b[: r.randrange(len(b) + 1)],  # duplicate a prefix
    _insert_noise,
    lambda b, r: b"\xef\xbb\xbf" + b,  # BOM
    lambda b, r: b.replace(b'"', b"'", 1),
]


def mutate(seed: Request, corpus: list[Request], rng: random.Random) -> Request:
    """One request: the seed's body mutated 1-3 times, maybe spliced, re-encoded, re-headed."""
    body = seed.body
    if rng.random() < 0.1:
        other = rng.choice(corpus).body
        body = body[: rng.randrange(len(body) + 1)] + other[rng.randrange(len(other) + 1) :]
    for _ in range(rng.randint(1, 3)):
        body = rng.choice(BYTE_MUTATIONS)(body, rng)
    headers = dict(seed.headers)
    if rng.random() < 0.15:
        headers["content-type"] = rng.choice(CONTENT_TYPES)
    if rng.random() < 0.15:
        headers |= rng.choice(ODD_HEADERS)
    if rng.random() < 0.08:
        body = gzip.compress(body)
        headers["content-encoding"] = "gzip"
    path = rng.choice(ROUTES) if rng.random() < 0.1 else seed.path
    return Request(path, headers, body)


# --- the run --------------------------------------------------------------------------------


Asgi = Callable[[dict[str, Any], Any, Any], Any]


@contextlib.asynccontextmanager
async def running_app(database_url: str) -> AsyncIterator[Asgi]:
    """The real app with its lifespan entered (no background drainer, capture mode)."""
    import structlog

    from ctsync.config import Settings
    from ctsync.web import create_app

    settings = Settings(
        DATABASE_URL=database_url, SEGMENT_WRITE_KEY=None, CTSYNC_ALLOW_UNVERIFIED=True
    )
    app = create_app(settings, background_drainer=False)
    before = structlog.get_config()
    # 100,000 "recorded" lines would cost more than the requests; warnings still show.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        async with app.router.lifespan_context(app):
            yield app
    finally:
        structlog.configure(**before)


async def call(app: Asgi, req: Request) -> tuple[int, bytes]:
    """One request straight into the ASGI app; its status and body.

    Called directly rather than through httpx.ASGITransport, whose per-request
    client machinery took twice as long as the app itself.
    """
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in req.headers.items()]
    headers.append((b"content-length", str(len(req.body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": req.path,
        "raw_path": req.path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 9),
        "server": ("fuzz", 80),
    }
    sent = False
    answer: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # the body was all there is: wait for disconnect
        sent = True
        return {"type": "http.request", "body": req.body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    try:
        await app(scope, receive, send)
    except Exception:  # noqa: BLE001 - Starlette re-raises after sending its 500
        answer["status"] = answer["status"] or 500
    return answer["status"], answer["body"]


async def _worker(app: Asgi, requests: list[Request], tally: Tally, start: int, step: int) -> None:
    for i in range(start, len(requests), step):
        req = requests[i]
        status, body = await call(app, req)
        tally.by_status[status] += 1
        if status >= 500 or status == 0:
            tally.server_errors.append((req, status, body[:300].decode("utf-8", "replace")))


async def fuzz(count: int, seed: int, concurrency: int, database_url: str) -> Tally:
    """Post ``count`` mutated deliveries; the tally of their answers."""
    rng = random.Random(seed)
    corpus = seeds()
    requests = [mutate(rng.choice(corpus), corpus, rng) for _ in range(count)]
    tally = Tally()
    async with running_app(database_url) as app:
        await asyncio.gather(
            *(_worker(app, requests, tally, k, concurrency) for k in range(concurrency))
        )
        good = Request("/api/webhook", JSON, (EXAMPLES / "02-customer-created.json").read_bytes())
        status, body = await call(app, good)  # the service still works afterwards
        if status != 200:
            tally.server_errors.append((good, status, body.decode("utf-8", "replace")))
    return tally


def _report(tally: Tally, count: int, seed: int, elapsed: float) -> str:
    statuses = ", ".join(f"{code} x{n}" for code, n in sorted(tally.by_status.items()) if n)
    lines = [
        f"fuzz_webhook: {count} requests in {elapsed:.1f} s ({count / elapsed:.0f}/s), seed {seed}",
        f"by status: {statuses}",
        f"5xx answers: {len(tally.server_errors)}",
    ]
    for req, code, text in tally.server_errors[:5]:
        lines.append(f"  {code} {req.path} {req.headers} {req.body[:200]!r} -> {text}")
    return "\n".join(lines)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.fuzz_webhook", description=__doc__)
    p.add_argument("--count", type=int, default=100_000, help="requests to post")
    p.add_argument("--seed", type=int, default=1, help="random seed (a run is reproducible)")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    p.add_argument("--db", default=None, help="DATABASE_URL (default: a fresh SQLite file)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        url = args.db or f"sqlite:///{tmp}/fuzz.db"
        started = time.monotonic()
        tally = asyncio.run(fuzz(args.count, args.seed, args.concurrency, url))
        print(_report(tally, args.count, args.seed, time.monotonic() - started))
    return 1 if tally.server_errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
