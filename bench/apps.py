"""The two comparison webhooks, on the same framework and server as ctsync.

``ceiling``: reads the body, JSON-decodes and validates it (pydantic, through
FastAPI's body parameter), answers 200. Nothing is stored or sent: no webhook
that looks at its input can accept faster on this stack.

``store-only``: what ctsync's webhook does minus mapping and delivery: parse the
delivery with ctsync's parser and record its event row durably in ctsync's SQLite
store (group commit, ``synchronous=FULL``), as ctsync records a delivery it will
not map. The floor of any design that stores each delivery before answering.

``seed``: the seed design (one Vercel function): validate, transform, then
``identify`` + ``flush`` with segment-analytics-python on every request, and
answer 200 only once Segment has it. ``flush`` waits for the library's consumer
thread, which collects messages for its 0.5 s upload interval first. The
handler is a plain ``def`` (FastAPI runs it in its thread pool), so concurrent
requests share one upload: the seed's best case.

    python -m bench.apps ceiling --port 8101
    python -m bench.apps store-only --port 8103 --db sqlite:////tmp/store-only.db
    python -m bench.apps seed --port 8102 --segment http://127.0.0.1:8100 --write-key K
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Address(_Model):
    """commercetools field names, as sent."""

    id: str | None = None
    streetName: str | None = None
    streetNumber: str | None = None
    postalCode: str | None = None
    city: str | None = None
    state: str | None = None
    country: str


class Customer(_Model):
    id: str
    version: int
    email: str
    firstName: str | None = None
    lastName: str | None = None
    dateOfBirth: str | None = None
    companyName: str | None = None
    addresses: list[Address] = []
    defaultBillingAddressId: str | None = None
    createdAt: str | None = None


class Resource(_Model):
    typeId: str
    id: str


class Delivery(_Model):
    """A commercetools Message delivery (Platform format) carrying a customer."""

    notificationType: str
    projectKey: str
    id: str
    type: str
    resource: Resource
    resourceVersion: int
    createdAt: str
    customer: Customer | None = None


def ceiling_app() -> FastAPI:
    """Validation only: the fastest a FastAPI webhook that checks its input can accept."""
    app = FastAPI(title="bench ceiling")

    @app.get("/api/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.post("/api/webhook")
    async def webhook(delivery: Delivery) -> JSONResponse:
        return JSONResponse({"status": "accepted", "id": delivery.id})

    return app


def store_only_app(db_url: str) -> FastAPI:
    """Parse with ctsync and store the event row durably; no mapping, no delivery."""
    from ctsync.ingress import decode_json, parse_ct_payload
    from ctsync.pipeline import record_rejected
    from ctsync.store import open_store

    store = open_store(db_url)
    store.migrate()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="bench store only", lifespan=lifespan)

    @app.get("/api/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.post("/api/webhook")
    async def webhook(request: Request) -> JSONResponse:
        event = parse_ct_payload(decode_json(await request.body()))
        now = time.time()
        # record_rejected writes the event row and nothing else (no identity, no outbox).
        result = await store.awrite(lambda c: record_rejected(c, event, reason="stored", now=now))
        return JSONResponse({"status": "stored", "eventId": result.event_id})

    return app


def _traits(customer: Customer) -> dict[str, Any]:
    """The seed's transform: a few traits, address from the default billing address."""
    name = " ".join(p for p in (customer.firstName, customer.lastName) if p)
    traits: dict[str, Any] = {
        "email": customer.email.strip().lower(),
        "firstName": customer.firstName,
        "lastName": customer.lastName,
        "name": name or None,
        "birthday": customer.dateOfBirth,
        "createdAt": customer.createdAt,
        "commercetoolsCustomerId": customer.id,
    }
    chosen = next(
        (a for a in customer.addresses if a.id == customer.defaultBillingAddressId),
        customer.addresses[0] if customer.addresses else None,
    )
    if chosen is not None:
        traits["address"] = {
            "street": " ".join(p for p in (chosen.streetName, chosen.streetNumber) if p),
            "city": chosen.city,
            "postalCode": chosen.postalCode,
            "state": chosen.state,
            "country": chosen.country,
        }
    return {k: v for k, v in traits.items() if v is not None}


def seed_app(segment_url: str, write_key: str) -> FastAPI:
    """The seed design: identify + flush with segment-analytics-python per request."""
    from segment.analytics import Client

    failures: list[Exception] = []
    client = Client(write_key, host=segment_url, on_error=lambda exc, _batch: failures.append(exc))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await anyio.to_thread.run_sync(client.shutdown)  # stop its consumer thread

    app = FastAPI(title="bench seed design", lifespan=lifespan)

    @app.get("/api/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.post("/api/webhook")
    def webhook(delivery: Delivery) -> JSONResponse:
        if delivery.customer is None:
            return JSONResponse({"error": "no customer in the delivery"}, status_code=400)
        traits = _traits(delivery.customer)
        ok, _ = client.identify(user_id=traits["email"], traits=traits)
        seen = len(failures)
        client.flush()
        if not ok or len(failures) > seen:
            return JSONResponse({"success": False}, status_code=500)
        return JSONResponse({"success": True})

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.apps", description=__doc__)
    parser.add_argument("kind", choices=["ceiling", "store-only", "seed"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--segment", default="", help="the (fake) Segment URL, for seed")
    parser.add_argument("--write-key", default="bench-write-key")
    parser.add_argument("--db", default="", help="the SQLite URL, for store-only")
    args = parser.parse_args(argv)
    if args.kind == "ceiling":
        app = ceiling_app()
    elif args.kind == "store-only":
        app = store_only_app(args.db)
    else:
        app = seed_app(args.segment, args.write_key)
    # The same server settings as `ctsync serve` (uvloop + httptools, warnings only).
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
