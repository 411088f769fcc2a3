"""The dashboard's pages at ``/admin``: overview, events, timeline, dead letters,
replay by filter, mapping dry run, configuration.

Every page is read-only; the forms that change something post to ``_repair``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ctsync.config import Settings
from ctsync.errors import CtsyncError
from ctsync.mapping import normalize_email
from ctsync.pipeline import dry_run
from ctsync.store._browse import (
    EventFilter,
    dead_groups,
    dead_of_reason,
    event_types,
    outbox_health,
    search_events,
    throughput,
    timeline,
)
from ctsync.store._ops import counts
from ctsync.web._auth import NO_ACCESS, admin_closed, admin_open, read_session
from ctsync.web._pages import (
    guard,
    mask,
    now,
    parse_time,
    read,
    refusal,
    render,
    row_id,
    runtime,
    text,
)
from ctsync.web._replay import replay_preview
from ctsync.web._webhook import ready

router = APIRouter(prefix="/admin", include_in_schema=False)
PAGE = 50


@router.get("")
async def root() -> Response:
    """``/admin`` without the slash."""
    return RedirectResponse("/admin/", status_code=307)


@router.get("/login")
async def login_page(request: Request) -> Response:
    """The login form (the admin token)."""
    settings: Settings = request.app.state.settings
    if admin_closed(settings):
        return refusal(request, 403, NO_ACCESS)
    if admin_open(settings):
        return RedirectResponse("/admin/", status_code=303)
    failed = request.query_params.get("failed") is not None
    return render(request, "login.html", read_session(request), failed=failed)


@router.get("/")
async def overview(request: Request) -> Response:
    """The flow over time, the outbox, the sink and anything unprotected."""
    session = guard(request)
    if isinstance(session, Response):
        return session
    from ctsync.web import _chart  # noqa: PLC0415 - only this page draws it; not at start-up

    rt = runtime(request)
    name, span, buckets = _chart.span_of(request.query_params.get("range", "day"))
    until = now()
    since = until - span

    def load(c: Any) -> dict[str, Any]:
        return {
            "series": throughput(c, since=since, step=span / buckets, buckets=buckets),
            "health": outbox_health(c, now=until),
            "counts": counts(c),
            "dead": dead_groups(c)[:5],
            "backfills": c.all("list_backfills", limit=5),
        }

    data = await read(request, load)
    readiness = json.loads(bytes((await ready(request)).body))
    return render(
        request,
        "overview.html",
        session,
        chart=_chart.build(data["series"], since=since, until=until),
        range=name,
        ranges=list(_chart.RANGES),
        health=data["health"],
        counts=data["counts"],
        dead=data["dead"],
        backfills=data["backfills"],
        ready=readiness,
        sink=rt.sink.name,
        capture=rt.settings.capture_mode,
        retention_days=rt.settings.retention_days,
        purged=rt.purged,
    )


def _event_filter(request: Request) -> EventFilter:
    q = request.query_params
    email = text(q.get("email"), "email")
    before = q.get("before", "")
    return EventFilter(
        status=text(q.get("status"), "status", limit=20),
        customer=text(q.get("customer"), "customer"),
        order_id=text(q.get("order"), "order"),
        user_id=normalize_email(email) if email else None,
        type=text(q.get("type"), "type", limit=100),
        since=parse_time(q.get("since"), "since"),
        until=parse_time(q.get("until"), "until"),
        before=row_id(before),
    )


@router.get("/events")
async def events(request: Request) -> Response:
    """Events, newest first, searchable, one page at a time."""
    session = guard(request)
    if isinstance(session, Response):
        return session
    f = _event_filter(request)
    rows, types = await read(
        request, lambda c: (search_events(c, f, limit=PAGE + 1), event_types(c))
    )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    params = {k: v for k, v in request.query_params.items() if k not in {"before", "done"} and v}
    return render(
        request,
        "events.html",
        session,
        rows=rows,
        types=types,
        q=params,
        older=({**params, "before": str(rows[-1]["id"])} if more else None),
    )


@router.get("/events/{event_id}")
async def event(request: Request) -> Response:
    """One event's timeline: received, mapped, each attempt, delivered or dead."""
    session = guard(request)
    if isinstance(session, Response):
        return session
    raw = str(request.path_params["event_id"])
    wanted = row_id(raw)
    found = None if wanted is None else await read(request, lambda c: timeline(c, wanted))
    if found is None:
        return render(request, "error.html", session, 404, message=f"no event {raw[:40]}")
    try:
        today = dry_run(found["payload"], runtime(request).planner) if found["payload"] else None
        problem = None if found["payload"] else "the payload was purged (retention)"
    except CtsyncError as exc:
        today, problem = None, str(exc)
    return render(
        request,
        "event.html",
        session,
        ev=found,
        payload=mask(found["payload"]),
        today=mask(today),
        today_problem=problem,
        sent=[mask(m["body"]) for m in found["messages"]],
        checks=_sender_checks(runtime(request).settings),
    )


def _sender_checks(settings: Settings) -> str:
    """The sender checks in force now (the event row does not record which one passed)."""
    names = [
        name
        for name, on in (
            ("shared secret", settings.webhook_secret is not None),
            ("SNS signature", settings.sns_verify),
            ("Pub/Sub OIDC", settings.pubsub_audience is not None),
        )
        if on
    ]
    return ", ".join(names) if names else "none configured"


@router.get("/dead")
async def dead(request: Request) -> Response:
    """Dead letters grouped by reason, each group with its letters."""
    session = guard(request)
    if isinstance(session, Response):
        return session

    def load(c: Any) -> list[dict[str, Any]]:
        groups = dead_groups(c)
        for g in groups:
            g["letters"] = dead_of_reason(c, g["reason"], limit=100) if g["reason"] else []
        return groups

    groups = await read(request, load)
    return render(request, "dead.html", session, groups=groups)


@router.get("/replay")
async def replay_page(request: Request) -> Response:
    """Replay by filter: the form, and a preview of what it would queue."""
    session = guard(request)
    if isinstance(session, Response):
        return session
    q = dict(request.query_params)
    preview = await replay_preview(request, q) if q.get("preview") else None
    return render(request, "replay.html", session, q=q, preview=preview)


@router.get("/dry-run")
async def dry_run_page(request: Request) -> Response:
    """The mapping dry-run form."""
    session = guard(request)
    if isinstance(session, Response):
        return session
    return render(request, "dryrun.html", session, payload="", results=None, problem=None)


@router.get("/config")
async def config(request: Request) -> Response:
    """Every setting, secrets masked."""
    session = guard(request)
    if isinstance(session, Response):
        return session
    rt = runtime(request)
    rows = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        env = str(getattr(alias, "choices", [alias])[0] or name.upper())
        value: Any = getattr(rt.settings, name)
        if name == "database_url":
            shown = rt.store.url_for_display
        elif hasattr(value, "get_secret_value"):
            shown = "set (hidden)" if value.get_secret_value() else "set, empty"
        else:
            shown = "not set" if value is None else mask(str(value))
        rows.append((env, shown))
    return render(request, "config.html", session, rows=rows)
