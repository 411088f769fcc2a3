"""Sender checks: who may post deliveries, and what proved it.

With no check configured, every delivery is refused unless the operator opted
in with CTSYNC_ALLOW_UNVERIFIED=true (exposure is never guessed from the bind
address). Once any check is configured, every request must pass one:
- the shared secret (CTSYNC_WEBHOOK_SECRET) as ``Authorization: Bearer``, as
  Basic auth in the push URL (``https://user:<secret>@host/...``), or as
  ``?token=``; compared in constant time;
- a Pub/Sub OIDC token in ``Authorization: Bearer`` (CTSYNC_PUBSUB_AUDIENCE);
  the shared secret then travels as ``?token=``;
- an SNS signature in the body (CTSYNC_SNS_VERIFY), the only check that needs
  the body: ``check_headers`` runs first, ``check_body`` only if it failed.
Each check answers with the ``Proof`` it gave: an envelope's own check
("sns", "pubsub") proves that envelope only, so the body is then read as it
and nothing else; the shared secret proves the sender, not the body's shape.
Reasons never contain a credential: they are logged and answered with the 401.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from ctsync.config import Settings
from ctsync.errors import Unauthorized
from ctsync.ingress._fetch import DocumentCache

if TYPE_CHECKING:
    from ctsync.ingress._oidc import PubSubTokenVerifier
    from ctsync.ingress._sns_signature import SnsSignatureVerifier

__all__ = ["UNVERIFIED_HINT", "Proof", "SenderGuard", "presented_secrets", "secret_matches"]

Proof = Literal["unverified", "secret", "pubsub", "sns"]
"""What let a request in: the operator's opt-in, the shared secret, or an envelope's check."""

UNVERIFIED_HINT = (
    "no sender check is configured, so deliveries are refused: set CTSYNC_WEBHOOK_SECRET "
    "(or CTSYNC_SNS_VERIFY / CTSYNC_PUBSUB_AUDIENCE), or CTSYNC_ALLOW_UNVERIFIED=true to "
    "accept unverified deliveries"
)
_NO_CREDENTIALS = "sender not verified: missing or wrong credentials"


def presented_secrets(headers: Mapping[str, str], query: Mapping[str, str]) -> list[str]:
    """Every credential the request carries that could be the shared secret."""
    found = []
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value:
        found.append(value.strip())
    elif scheme.lower() == "basic" and value:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII text
            user = password = ""
        found.extend(v for v in (password, user) if v)
    token = query.get("token")
    if token:
        found.append(token)
    return found


def secret_matches(secret: str, presented: list[str]) -> bool:
    """Constant-time comparison against each presented credential."""
    expected = secret.encode()
    return any(hmac.compare_digest(expected, p.encode("utf-8", "replace")) for p in presented)


class SenderGuard:
    """The configured sender checks of one app; holds the key and certificate caches."""

    def __init__(self, settings: Settings, *, cache: DocumentCache | None = None) -> None:
        self._settings = settings
        cache = cache or DocumentCache()
        self._pubsub: PubSubTokenVerifier | None = None
        self._sns: SnsSignatureVerifier | None = None
        if settings.pubsub_audience is not None:
            from ctsync.ingress._oidc import PubSubTokenVerifier  # noqa: PLC0415 - google-auth

            self._pubsub = PubSubTokenVerifier(settings, cache)
        if settings.sns_verify:
            from ctsync.ingress._sns_signature import SnsSignatureVerifier  # noqa: PLC0415

            self._sns = SnsSignatureVerifier(settings, cache)

    @property
    def checks_body(self) -> bool:
        """An SNS signature in the body may prove the sender when the headers did not."""
        return self._sns is not None

    async def check_headers(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Proof:
        """What in the headers proves the sender (or the operator's opt-in); else Unauthorized."""
        settings = self._settings
        if not settings.sender_check_configured:
            if not settings.allow_unverified:
                raise Unauthorized(UNVERIFIED_HINT)
            return "unverified"
        secret = settings.webhook_secret
        if secret is not None and secret_matches(
            secret.get_secret_value(), presented_secrets(headers, query)
        ):
            return "secret"
        token = _bearer(headers)
        if self._pubsub is not None and token is not None and token.count(".") == 2:
            await self._pubsub.verify(token)
            return "pubsub"
        raise Unauthorized(_NO_CREDENTIALS)

    async def check_body(self, data: Any) -> Proof:
        """``"sns"`` when ``data`` is a validly signed SNS message; else Unauthorized."""
        if self._sns is None:
            raise Unauthorized(_NO_CREDENTIALS)
        await self._sns.verify(data)
        return "sns"


def _bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None
