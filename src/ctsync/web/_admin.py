"""The admin API: events, outbox, dead letters, replay and the mapping dry run.

Requires ``Authorization: Bearer $CTSYNC_ADMIN_TOKEN``. Without a token set, it
answers only when the service is not reachable beyond loopback.
"""

from __future__ import annotations

import hmac
import time
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ctsync.errors import Unauthorized
from ctsync.ingress import decode_json, parse_ct_payload, unwrap
from ctsync.mapping import normalize_email
from ctsync.service import Runtime
from ctsync.store import Conn
from ctsync.store._ops import counts, discard, event_detail, list_events, list_messages, replay


def _require_admin(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    token = rt.settings.admin_token
    if token is None:
        if request.app.state.exposed:
            msg = "set CTSYNC_ADMIN_TOKEN to use the admin API on a reachable service"
            raise Unauthorized(msg)
        return rt
    given = request.headers.get("authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        msg = "admin API: missing or wrong bearer token (CTSYNC_ADMIN_TOKEN)"
        raise Unauthorized(msg)
    return rt


Admin = Annotated[Runtime, Depends(_require_admin)]
router = APIRouter(prefix="/api/admin", tags=["admin"])


class ReplayRequest(BaseModel):
    """Which dead letters to put back: ``ids``, or ``all``."""

    ids: list[int] = Field(default_factory=list)
    all: bool = False


async def _read(rt: Runtime, fn: Any) -> Any:
    return await anyio.to_thread.run_sync(rt.store.read, fn)


@router.get("/events")
async def events(
    rt: Admin,
    status: str | None = None,
    customer: Annotated[str | None, Query(description="commercetools customer id")] = None,
    email: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """Events, newest first, with status and ids."""
    user_id = normalize_email(email) if email else None
    rows = await _read(
        rt,
        lambda c: list_events(c, status=status, resource_id=customer, user_id=user_id, limit=limit),
    )
    return {"events": rows}


@router.get("/events/{event_id}")
async def event(rt: Admin, event_id: int) -> Any:
    """One event with its messages and every attempt."""
    found = await _read(rt, lambda c: event_detail(c, event_id))
    if found is None:
        return JSONResponse({"error": f"no event {event_id}"}, status_code=404)
    return found


@router.get("/messages")
async def messages(
    rt: Admin,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """Outbox messages, newest first (``status=dead``: the dead-letter queue)."""
    rows = await _read(rt, lambda c: list_messages(c, status=status, limit=limit))
    return {"messages": rows}


@router.get("/stats")
async def stats(rt: Admin) -> dict[str, Any]:
    """Counts of events and messages by status."""
    result: dict[str, Any] = await _read(rt, counts)
    result["sink"] = rt.sink.name
    return result


@router.post("/replay")
async def replay_dead(rt: Admin, body: ReplayRequest) -> dict[str, Any]:
    """Put dead letters back in the outbox."""
    ids = None if body.all else body.ids
    now = time.time()
    horizon = rt.settings.retry_horizon_s

    def run(c: Conn) -> int:
        return replay(c, ids=ids, now=now, horizon_s=horizon)

    n = await anyio.to_thread.run_sync(rt.store.write, run)
    rt.drainer.notify()
    return {"replayed": n}


@router.post("/discard")
async def discard_dead(rt: Admin, body: ReplayRequest) -> dict[str, Any]:
    """Give up on dead letters (kept as discarded until retention purges them)."""
    now = time.time()
    n = await anyio.to_thread.run_sync(rt.store.write, lambda c: discard(c, ids=body.ids, now=now))
    return {"discarded": n}


@router.post("/transform")
async def transform(rt: Admin, request: Request) -> dict[str, Any]:
    """Dry run: the Segment messages a delivery would produce, for a customer seen fresh."""
    data = decode_json(await request.body())
    results = []
    for item in unwrap(data, {}).items:
        event = parse_ct_payload(item.payload, envelope=item.envelope)
        plan = rt.planner(event, None)
        results.append(
            {
                "status": plan.status,
                "reason": plan.reason,
                "messages": [m.body for m in plan.messages],
            }
        )
    return {"results": results}
