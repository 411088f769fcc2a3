"""The admin API: events, outbox, dead letters, replay and the mapping dry run.

Requires ``Authorization: Bearer $CTSYNC_ADMIN_TOKEN``. Without a token set, it
answers only under the operator's CTSYNC_ALLOW_UNVERIFIED=true (a local trial).

Routes take the bare ``Request`` and validate their query and body with the
pydantic models below: any typed FastAPI parameter makes FastAPI import
``pydantic.v1`` (~200 ms), and the serverless cold start has a budget.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from typing import Annotated, Any, Literal, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from ctsync.errors import InputError
from ctsync.ingress import decode_json
from ctsync.mapping import normalize_email
from ctsync.pipeline import RecordStatus, dry_run
from ctsync.service import Runtime
from ctsync.store import Conn
from ctsync.store._browse import timeline
from ctsync.store._ops import counts, discard, event_detail, list_events, list_messages, replay
from ctsync.web._access import require_admin
from ctsync.web._pages import mask
from ctsync.web._replay import replay_preview, replay_run

M = TypeVar("M", bound=BaseModel)
router = APIRouter(prefix="/api/admin", tags=["admin"])


MessageStatus = Literal["pending", "delivered", "captured", "dead", "discarded"]
_MAX_ROW_ID = 2**63 - 1  # ids are BIGINT: a larger one can name no row
_ROW_ID = re.compile(r"[0-9]{1,19}")


# What a filter may hold: no NUL (PostgreSQL refuses one in text), no novel.
def _no_nul(value: str) -> str:
    if "\x00" in value:
        msg = "must not hold a NUL character (\\u0000)"
        raise ValueError(msg)
    return value


TextFilter = Annotated[str, StringConstraints(max_length=320), AfterValidator(_no_nul)]


# defer_build: a model builds its validator when its route first runs, not at start-up
_STRICT = ConfigDict(extra="forbid", defer_build=True)


class EventsQuery(BaseModel):
    """Filters of ``GET /api/admin/events``."""

    model_config = _STRICT
    status: RecordStatus | None = None
    customer: TextFilter | None = Field(default=None, description="commercetools customer id")
    email: TextFilter | None = None
    limit: int = Field(default=50, ge=1, le=1000)


class MessagesQuery(BaseModel):
    """Filters of ``GET /api/admin/messages`` (``status=dead``: the dead-letter queue)."""

    model_config = _STRICT
    status: MessageStatus | None = None
    limit: int = Field(default=50, ge=1, le=1000)


RowId = Annotated[int, Field(ge=1, le=_MAX_ROW_ID)]


class IdsBody(BaseModel):
    """Which dead letters to act on: ``ids``, or ``all``."""

    model_config = _STRICT
    ids: list[RowId] = Field(default_factory=list, max_length=10_000)
    all: bool = False


def _admin(request: Request) -> Runtime:
    require_admin(request)
    rt: Runtime = request.app.state.runtime
    return rt


def _invalid(exc: ValidationError, default: str) -> InputError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or default
    return InputError(f"{where}: {first['msg']}")


def _query(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise _invalid(exc, "query") from None


async def _body(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.body() or b"{}")
    except ValidationError as exc:
        raise _invalid(exc, "body") from None


async def _read(rt: Runtime, fn: Any) -> Any:
    return await anyio.to_thread.run_sync(rt.store.read, fn)


@router.get("/events")
async def events(request: Request) -> Response:
    """Events, newest first, with status and ids (``?status=&customer=&email=&limit=``)."""
    rt = _admin(request)
    q = _query(request, EventsQuery)
    user_id = normalize_email(q.email) if q.email else None
    rows = await _read(
        rt,
        lambda c: list_events(
            c, status=q.status, resource_id=q.customer, user_id=user_id, limit=q.limit
        ),
    )
    return JSONResponse({"events": rows})


def _event_id(request: Request) -> int:
    """The path's event id: ASCII digits that fit a BIGINT (str.isdigit() takes others)."""
    raw = str(request.path_params["event_id"])
    if not _ROW_ID.fullmatch(raw) or int(raw) > _MAX_ROW_ID:
        raise InputError(f"event id must be a number from 1 to {_MAX_ROW_ID}, not {raw[:40]!r}")
    return int(raw)


@router.get("/events/{event_id}")
async def event(request: Request) -> Response:
    """One event with its messages and every attempt."""
    rt = _admin(request)
    event_id = _event_id(request)
    found = await _read(rt, lambda c: event_detail(c, event_id))
    if found is None:
        return JSONResponse({"error": f"no event {event_id}"}, status_code=404)
    return JSONResponse(found)


@router.get("/messages")
async def messages(request: Request) -> Response:
    """Outbox messages, newest first (``?status=dead``: the dead-letter queue)."""
    rt = _admin(request)
    q = _query(request, MessagesQuery)
    rows = await _read(rt, lambda c: list_messages(c, status=q.status, limit=q.limit))
    return JSONResponse({"messages": rows})


@router.get("/stats")
async def stats(request: Request) -> Response:
    """Counts of events and messages by status."""
    rt = _admin(request)
    result: dict[str, Any] = await _read(rt, counts)
    result["sink"] = rt.sink.name
    return JSONResponse(result)


@router.post("/replay")
async def replay_dead(request: Request) -> Response:
    """Put dead letters back in the outbox: ``{"ids": [...]}`` or ``{"all": true}``."""
    rt = _admin(request)
    body = await _body(request, IdsBody)
    ids = None if body.all else body.ids
    now = time.time()
    horizon = rt.settings.retry_horizon_s

    def run(c: Conn) -> int:
        return replay(c, ids=ids, now=now, horizon_s=horizon)

    n = await anyio.to_thread.run_sync(rt.store.write, run)
    rt.drainer.notify()
    return JSONResponse({"replayed": n})


@router.post("/discard")
async def discard_dead(request: Request) -> Response:
    """Give up on dead letters (kept as discarded until retention purges them)."""
    rt = _admin(request)
    body = await _body(request, IdsBody)
    now = time.time()

    def run(c: Conn) -> int:
        ids = [r["id"] for r in c.all("dead_ids")] if body.all else body.ids
        return discard(c, ids=ids, now=now)

    n = await anyio.to_thread.run_sync(rt.store.write, run)
    return JSONResponse({"discarded": n})


class BackfillsQuery(BaseModel):
    """Filters of ``GET /api/admin/backfills``."""

    model_config = _STRICT
    limit: int = Field(default=20, ge=1, le=1000)


@router.get("/backfills")
async def backfills(request: Request) -> Response:
    """Backfills, most recently active first: status, cursor, counts (``ctsync backfill``)."""
    rt = _admin(request)
    q = _query(request, BackfillsQuery)
    rows = await _read(rt, lambda c: c.all("list_backfills", limit=q.limit))
    for row in rows:
        row["filters"] = json.loads(row["filters"])
    return JSONResponse({"backfills": rows})


@router.post("/transform")
async def transform(request: Request) -> Response:
    """Dry run: the Segment messages a delivery would produce, for a customer seen fresh."""
    rt = _admin(request)
    results = dry_run(decode_json(await request.body()), rt.planner)
    return JSONResponse({"results": results})


class ReplayFilterBody(BaseModel):
    """``POST /api/admin/replay/filter`` and its preview: which finished messages to re-send.

    Times are ISO 8601 (UTC when no offset is given) or Unix seconds.
    """

    model_config = _STRICT
    customer: TextFilter | None = Field(default=None, description="commercetools customer id")
    email: TextFilter | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    status: Literal["delivered", "captured", "dead", "discarded"] | None = None
    newIds: bool = Field(default=False, description="new messageIds instead of the original ones")

    def fields(self) -> dict[str, str]:
        """As the dashboard's form would send it."""
        out = {"customer": self.customer, "email": self.email, "status": self.status}
        for name in ("since", "until"):
            value: dt.datetime | None = getattr(self, name)
            if value is not None:
                out[name] = value.isoformat()
        return {k: v for k, v in out.items() if v}


@router.get("/events/{event_id}/timeline")
async def event_timeline(request: Request) -> Response:
    """One event as steps: received, mapped, each attempt, delivered or dead-lettered."""
    rt = _admin(request)
    event_id = _event_id(request)
    found = await _read(rt, lambda c: timeline(c, event_id))
    if found is None:
        return JSONResponse({"error": f"no event {event_id}"}, status_code=404)
    found["payload"] = mask(found["payload"])
    return JSONResponse(found)


@router.get("/replay/preview")
async def replay_filter_preview(request: Request) -> Response:
    """How many messages a replay by filter would queue (``?customer=&email=&since=...``)."""
    _admin(request)
    q = _query(request, ReplayFilterBody)
    return JSONResponse(await replay_preview(request, q.fields()))


@router.post("/replay/filter")
async def replay_filter_run(request: Request) -> Response:
    """Replay by filter: queue the matching finished messages again, attempts reset."""
    _admin(request)
    body = await _body(request, ReplayFilterBody)
    n = await replay_run(request, body.fields(), new_ids=body.newIds)
    return JSONResponse({"replayed": n})
