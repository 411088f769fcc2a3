"""Bearer tokens of the operator's routes: the admin API and the cron drain.

A route whose token is set requires it; a route without one is open only under
the operator's explicit CTSYNC_ALLOW_UNVERIFIED=true (a local trial), never
because of the address the service listens on.
"""

from __future__ import annotations

import hmac

from fastapi import Request
from pydantic import SecretStr

from ctsync.config import Settings
from ctsync.errors import Unauthorized

__all__ = ["admin_allowed", "require_admin", "require_cron"]


def require_admin(request: Request) -> None:
    """Return when the caller may use the admin API; else Unauthorized saying what to set."""
    _require(request, _settings(request).admin_token, "CTSYNC_ADMIN_TOKEN", "the admin API")


def require_cron(request: Request) -> None:
    """Return when the caller may run the cron drain (Vercel Cron sends CRON_SECRET)."""
    _require(request, _settings(request).cron_secret, "CRON_SECRET", "/api/cron/drain")


def admin_allowed(request: Request) -> bool:
    """Whether the caller may see what the admin API shows (error details included)."""
    try:
        require_admin(request)
    except Unauthorized:
        return False
    return True


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


def _require(request: Request, secret: SecretStr | None, name: str, what: str) -> None:
    if secret is None:
        if _settings(request).allow_unverified:
            return
        msg = (
            f"{what} needs {name} (sent as Authorization: Bearer), "
            "or CTSYNC_ALLOW_UNVERIFIED=true for a local trial"
        )
        raise Unauthorized(msg)
    given = request.headers.get("authorization", "")
    expected = f"Bearer {secret.get_secret_value()}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        msg = f"{what}: missing or wrong bearer token ({name})"
        raise Unauthorized(msg)
