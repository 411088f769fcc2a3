"""The dashboard's state-changing forms: log in and out, replay, discard, dry run.

Each POST carries the session's CSRF token (``_pages.guarded_form`` refuses one
without it with a 403) and answers with a redirect to the page it came from.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ctsync import metrics
from ctsync.errors import CtsyncError, InputError
from ctsync.ingress import decode_json
from ctsync.logs import get_logger
from ctsync.pipeline import dry_run
from ctsync.store._browse import dead_ids_of_reason, requeue, rows_by_id
from ctsync.store._ops import discard
from ctsync.web._auth import COOKIE, csrf_ok, new_session, read_session, token_matches
from ctsync.web._pages import (
    done,
    form,
    form_values,
    guarded_form,
    mask,
    now,
    read,
    refusal,
    render,
    row_id,
    runtime,
    write,
)
from ctsync.web._replay import replay_run

router = APIRouter(prefix="/admin", include_in_schema=False)
log = get_logger("ctsync.replay")


@router.post("/login")
async def login(request: Request) -> Response:
    """Exchange the admin token for a session cookie (a fresh nonce: no fixation)."""
    fields = await form(request)
    if not csrf_ok(request, read_session(request), fields.get("csrf", "")):
        return refusal(request, 403, "missing or wrong CSRF token: reload the page and retry")
    if not token_matches(request.app.state.settings, fields.get("token", "")):
        return RedirectResponse("/admin/login?failed=1", status_code=303)
    response = RedirectResponse("/admin/", status_code=303)
    new_session(request, response, authenticated=True)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session."""
    got = await guarded_form(request)
    if isinstance(got, Response):
        return got
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


async def _selected(request: Request, fields: dict[str, str]) -> list[int]:
    """Checked letters (``id`` fields), or every letter of ``reason`` when ``all`` is set."""
    if fields.get("all") and fields.get("reason"):
        reason = fields["reason"]
        ids: list[int] = await read(request, lambda c: dead_ids_of_reason(c, reason))
        return ids
    checked = [row_id(v) for v in await form_values(request, "id")]
    return [i for i in checked if i is not None]


@router.post("/replay-messages")
async def replay_messages(request: Request) -> Response:
    """Replay one message, the checked dead letters, or all of a reason."""
    got = await guarded_form(request)
    if isinstance(got, Response):
        return got
    _, fields = got
    ids = await _selected(request, fields)
    rt = runtime(request)
    at, horizon = now(), rt.settings.retry_horizon_s
    new_ids = fields.get("new_ids") == "on"
    n = await write(
        request,
        lambda c: requeue(c, rows_by_id(c, ids), now=at, horizon_s=horizon, new_ids=new_ids),
    )
    metrics.REPLAYED.labels(how="messages").inc(n)
    log.info("replayed", action="replay", how="messages", count=n, ids=ids[:100], new_ids=new_ids)
    rt.drainer.notify()
    back = fields.get("back", "/admin/dead")
    return done(back if back.startswith("/admin/") else "/admin/dead", f"replayed {n}")


@router.post("/discard")
async def discard_letters(request: Request) -> Response:
    """Give up on the checked dead letters, or all of a reason."""
    got = await guarded_form(request)
    if isinstance(got, Response):
        return got
    _, fields = got
    ids = await _selected(request, fields)
    at = now()
    n = await write(request, lambda c: discard(c, ids=ids, now=at))
    log.info("discarded", action="discard", count=n, ids=ids[:100])
    return done("/admin/dead", f"discarded {n}")


@router.post("/replay")
async def replay_filtered(request: Request) -> Response:
    """Replay by filter (after the preview)."""
    got = await guarded_form(request)
    if isinstance(got, Response):
        return got
    _, fields = got
    n = await replay_run(request, fields, new_ids=fields.get("new_ids") == "on")
    names = ("customer", "email", "since", "until", "status")
    keep = {k: fields[k] for k in names if fields.get(k)}
    return done("/admin/replay", f"queued {n} message(s) again", **keep)


@router.post("/dry-run")
async def dry_run_form(request: Request) -> Response:
    """Map a pasted payload with today's mapping; nothing is stored or sent."""
    got = await guarded_form(request)
    if isinstance(got, Response):
        return got
    session, fields = got
    payload = fields.get("payload", "")
    results: Any = None
    problem = None
    try:
        results = mask(dry_run(decode_json(payload.encode()), runtime(request).planner))
    except (InputError, CtsyncError) as exc:
        problem = str(exc)
    return render(
        request, "dryrun.html", session, payload=payload, results=results, problem=problem
    )
