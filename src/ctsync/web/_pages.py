"""What every dashboard page shares: templates, the session guard, forms, masking.

Pages are rendered on the server (Jinja2) so the dashboard needs no build step and
works on any browser; a page's only script is none.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

import anyio.to_thread
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ctsync.errors import InputError, PayloadTooLarge
from ctsync.service import Runtime
from ctsync.web._auth import (
    NO_ACCESS,
    Session,
    admin_closed,
    admin_open,
    csrf_ok,
    csrf_token,
    new_session,
    read_session,
)

_SECRET_KEY = re.compile(r"pass(word)?|secret|token|authorization|write_?key|api_?key", re.I)
_URL_PASSWORD = re.compile(r"://([^:/@\s]+):[^@\s]*@")
MAX_FORM_BYTES = 1024 * 1024
# Pages hold no script and load nothing from elsewhere; no other site may frame them
# (a framed replay button is a click-jacking target) or read where they came from.
PAGE_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def when(ts: float | None) -> str:
    """A UTC time as people read it."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def ago(seconds: float | None) -> str:
    """A duration in the largest unit that fits (for ages and retention)."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


@functools.cache
def _templates() -> Any:
    """The Jinja2 environment, built on first use: importing jinja2 costs ~70 ms, which
    the serverless cold start of a webhook should not pay for a page nobody opened.
    """
    import jinja2  # noqa: PLC0415

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ctsync.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = when
    env.filters["ago"] = ago
    env.filters["pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, default=str)
    return env


def mask(value: Any) -> Any:
    """A copy of a JSON value with secret-looking keys masked (commercetools keeps a
    password hash on a customer) and passwords inside URLs hidden.
    """
    if isinstance(value, dict):
        return {
            k: ("***" if _SECRET_KEY.search(str(k)) and v not in (None, "") else mask(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask(v) for v in value]
    if isinstance(value, str):
        return _URL_PASSWORD.sub(r"://\1:***@", value)
    return value


def runtime(request: Request) -> Runtime:
    """The process's runtime (store, sink, drainer, planner)."""
    rt: Runtime = request.app.state.runtime
    return rt


async def read(request: Request, fn: Any) -> Any:
    """Run a store read off the event loop."""
    return await anyio.to_thread.run_sync(runtime(request).store.read, fn)


async def write(request: Request, fn: Any) -> Any:
    """Run a store write off the event loop."""
    return await anyio.to_thread.run_sync(runtime(request).store.write, fn)


def render(
    request: Request,
    template: str,
    session: Session | None,
    status_code: int = 200,
    **ctx: Any,
) -> HTMLResponse:
    """A page; starts a session (cookie) when the browser has none."""
    response = HTMLResponse("", status_code=status_code)
    if session is None:
        open_ = admin_open(request.app.state.settings)
        session = new_session(request, response, authenticated=open_)
    html = (
        _templates()
        .get_template(template)
        .render(
            request=request,
            csrf=csrf_token(request, session),
            signed_in=session.authenticated,
            notice=request.query_params.get("done"),
            **ctx,
        )
    )
    response.body = response.render(html)
    response.headers["content-length"] = str(len(response.body))
    response.headers.update(PAGE_HEADERS)
    return response


def refusal(request: Request, status_code: int, message: str) -> HTMLResponse:
    """An error page (no session needed)."""
    html = (
        _templates()
        .get_template("error.html")
        .render(request=request, message=message, status_code=status_code)
    )
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def guard(request: Request) -> Session | Response | None:
    """The page's session, or the response that stands in for the page (login, 403)."""
    settings = request.app.state.settings
    if admin_closed(settings):
        return refusal(request, 403, NO_ACCESS)
    session = read_session(request)
    if admin_open(settings):
        return session
    if session is None or not session.authenticated:
        return RedirectResponse("/admin/login", status_code=303)
    return session


async def form(request: Request) -> dict[str, str]:
    """A urlencoded form body (the browser's default), last value of each field."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PayloadTooLarge("form: over 1 MiB")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise InputError("form: not UTF-8") from exc
    return {k: v[-1].replace("\x00", "") for k, v in parsed.items()}


async def form_values(request: Request, name: str) -> list[str]:
    """Every value of a repeated form field (checkboxes)."""
    body = (await request.body()).decode("utf-8", "replace")
    return parse_qs(body, keep_blank_values=False).get(name, [])


async def guarded_form(request: Request) -> tuple[Session, dict[str, str]] | Response:
    """A state-changing POST: a signed-in session and its CSRF token, else 403."""
    settings = request.app.state.settings
    if admin_closed(settings):
        return refusal(request, 403, NO_ACCESS)
    session = read_session(request)
    fields = await form(request)
    if not csrf_ok(request, session, fields.get("csrf", "")):
        return refusal(request, 403, "missing or wrong CSRF token: reload the page and retry")
    assert session is not None  # csrf_ok checked it
    if not (session.authenticated or admin_open(settings)):
        return RedirectResponse("/admin/login", status_code=303)
    return session, fields


def done(path: str, message: str, **params: str) -> RedirectResponse:
    """After a POST, back to a page that says what happened (post/redirect/get)."""
    query = urlencode({**params, "done": message})
    return RedirectResponse(f"{path}?{query}", status_code=303)


def parse_time(value: str | None, name: str) -> float | None:
    """A form's date or datetime-local value (UTC) as a Unix time; empty: None."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError as exc:
        msg = f"{name}: not a date or time ({value[:40]!r}); use YYYY-MM-DD or YYYY-MM-DDTHH:MM"
        raise InputError(msg) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def text(value: str | None, name: str, *, limit: int = 320) -> str | None:
    """A filter's text: trimmed, empty is None, not longer than ``limit``."""
    if value is None or not value.strip():
        return None
    if len(value) > limit:
        raise InputError(f"{name}: at most {limit} characters")
    return value.strip()


_ROW_ID = re.compile(r"[0-9]{1,19}")
_MAX_ROW_ID = 2**63 - 1


def row_id(raw: str) -> int | None:
    """A row id from a path or form: ASCII digits within BIGINT, else None.

    ``str.isdigit()`` and ``int()`` also take other scripts' digits ("²", "٣").
    """
    if not _ROW_ID.fullmatch(raw) or int(raw) > _MAX_ROW_ID:
        return None
    return int(raw)


def now() -> float:
    """The current Unix time (one place, for the pages)."""
    return time.time()
