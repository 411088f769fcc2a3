"""Who may use the admin pages and API, sessions and CSRF tokens.

Access rule: with ``CTSYNC_ADMIN_TOKEN`` set, the token (a bearer for the JSON
API, a login for the dashboard); without it, only when the operator opted in
with ``CTSYNC_ALLOW_UNVERIFIED=true`` (a local trial). Never by bind address.

Sessions are stateless signed cookies (``issued.nonce.auth.signature``), signed
with a key derived from the admin token, so any replica accepts them and rotating
the token ends every session. The CSRF token is the HMAC of the session's nonce.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from ctsync.config import Settings

COOKIE = "ctsync_session"
SESSION_TTL_S = 12 * 3600
NO_ACCESS = (
    "set CTSYNC_ADMIN_TOKEN to use the admin pages and API "
    "(or CTSYNC_ALLOW_UNVERIFIED=true for a local trial)"
)


@dataclass(frozen=True, slots=True)
class Session:
    """A browser's session: its nonce (bound to the CSRF token) and whether it logged in."""

    nonce: str
    authenticated: bool


def admin_open(settings: Settings) -> bool:
    """No token, and the operator opted in to a trial without checks."""
    return settings.admin_token is None and settings.allow_unverified


def admin_closed(settings: Settings) -> bool:
    """No token and no opt-in: nobody may use the admin pages or API."""
    return settings.admin_token is None and not settings.allow_unverified


def _loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: the only hosts a Secure cookie may skip.

    This decides a cookie flag, never who may log in (the token does that).
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_matches(settings: Settings, given: str) -> bool:
    """The login form's token equals CTSYNC_ADMIN_TOKEN (compared in constant time)."""
    token = settings.admin_token
    return token is not None and hmac.compare_digest(
        given.encode(), token.get_secret_value().encode()
    )


def _key(request: Request) -> bytes:
    settings: Settings = request.app.state.settings
    if settings.admin_token is not None:
        seed = settings.admin_token.get_secret_value().encode()
        return hashlib.sha256(b"ctsync-session:" + seed).digest()
    key: bytes | None = getattr(request.app.state, "session_key", None)
    if key is None:  # a trial without a token: one random key per process
        key = secrets.token_bytes(32)
        request.app.state.session_key = key
    return key


def _sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def read_session(request: Request) -> Session | None:
    """The request's valid session, if any."""
    raw = request.cookies.get(COOKIE, "")
    parts = raw.split(".")
    if len(parts) != 4 or not (parts[0].isascii() and parts[0].isdigit()) or len(parts[0]) > 12:
        return None
    issued, nonce, auth, sig = parts
    if not hmac.compare_digest(sig, _sign(_key(request), f"{issued}.{nonce}.{auth}")):
        return None
    if time.time() - int(issued) > SESSION_TTL_S:
        return None
    return Session(nonce, auth == "1")


def new_session(request: Request, response: Response, *, authenticated: bool) -> Session:
    """Start a session (a fresh nonce) and set its cookie on ``response``."""
    nonce = secrets.token_urlsafe(16)
    payload = f"{int(time.time())}.{nonce}.{int(authenticated)}"
    # A browser on the machine itself may talk plain http; anywhere else, https only.
    secure = not _loopback(request.url.hostname or "")
    response.set_cookie(
        COOKIE,
        f"{payload}.{_sign(_key(request), payload)}",
        max_age=SESSION_TTL_S,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return Session(nonce, authenticated)


def csrf_token(request: Request, session: Session) -> str:
    """The token every state-changing form of this session carries."""
    return _sign(_key(request), f"csrf:{session.nonce}")


def csrf_ok(request: Request, session: Session | None, given: str) -> bool:
    """``given`` is this session's CSRF token."""
    return session is not None and hmac.compare_digest(given, csrf_token(request, session))
