"""Sender checks: who may post deliveries.

The shared secret travels as ``Authorization: Bearer <secret>``, as Basic auth
in the push URL (``https://user:<secret>@host/...``), or as ``?token=<secret>``;
it is compared in constant time. Envelope-specific checks (SNS signatures,
Pub/Sub OIDC tokens) plug in beside it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

from ctsync.config import Settings
from ctsync.errors import Unauthorized

UNVERIFIED_HINT = (
    "this endpoint is reachable beyond loopback and no sender check is configured: set "
    "CTSYNC_WEBHOOK_SECRET (or CTSYNC_SNS_VERIFY / CTSYNC_PUBSUB_AUDIENCE), or "
    "CTSYNC_ALLOW_UNVERIFIED=true to accept unverified deliveries"
)


def presented_secrets(headers: Mapping[str, str], query: Mapping[str, str]) -> list[str]:
    """Every credential the request carries that could be the shared secret."""
    found = []
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value:
        found.append(value.strip())
    elif scheme.lower() == "basic" and value:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = password = ""
        found.extend(v for v in (password, user) if v)
    token = query.get("token")
    if token:
        found.append(token)
    return found


def secret_matches(secret: str, presented: list[str]) -> bool:
    """Constant-time comparison against each presented credential."""
    expected = secret.encode()
    return any(hmac.compare_digest(expected, p.encode()) for p in presented)


def check_sender(
    settings: Settings,
    *,
    exposed: bool,
    headers: Mapping[str, str],
    query: Mapping[str, str],
) -> None:
    """Raise Unauthorized unless the request passes a configured check (or none is needed)."""
    if not settings.sender_check_configured:
        if exposed and not settings.allow_unverified:
            raise Unauthorized(UNVERIFIED_HINT)
        return
    secret = settings.webhook_secret
    if secret is not None and secret_matches(
        secret.get_secret_value(), presented_secrets(headers, query)
    ):
        return
    msg = "sender not verified: missing or wrong credentials"
    raise Unauthorized(msg)
