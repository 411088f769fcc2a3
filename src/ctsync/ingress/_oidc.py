"""Google Pub/Sub push: the OIDC token in ``Authorization: Bearer``.

google-auth checks the token's signature (keys at CTSYNC_PUBSUB_CERTS_URL),
expiry and audience (CTSYNC_PUBSUB_AUDIENCE); we check the issuer and the
verified email (CTSYNC_PUBSUB_SERVICE_ACCOUNT, which Settings requires: any
Google identity can get a token for any audience). google-auth fetches
keys through a synchronous transport, which would block the event loop: the
keys are fetched here with httpx (async, cached) and handed to it from memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.auth import transport

from ctsync.config import Settings
from ctsync.errors import Unauthorized
from ctsync.ingress._fetch import DocumentCache, FetchError
from ctsync.ingress._unwrapped import one_of

__all__ = ["PubSubTokenVerifier"]

_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
_CLOCK_SKEW_S = 30
# After a failed check, keys are refetched (Google rotates them) at most this often.
_REFRESH_AFTER_S = 300.0
# google-auth's messages can quote the token; only these words reach logs and answers.
_REASONS = (
    ("expired", "expired"),
    ("too early", "not valid yet"),
    ("audience", "wrong audience (CTSYNC_PUBSUB_AUDIENCE)"),
    ("signature", "bad signature"),
    ("key id", "unknown signing key"),
    ("signing key", "unknown signing key"),
    ("algorithm", "unsupported algorithm"),
)


class PubSubTokenVerifier:
    """Verifies the OIDC tokens Pub/Sub push subscriptions send."""

    def __init__(self, settings: Settings, cache: DocumentCache) -> None:
        self._audience = settings.pubsub_audience
        self._email = settings.pubsub_service_account
        self._certs_url = settings.pubsub_certs_url
        self._cache = cache

    async def verify(self, token: str) -> None:
        """Return when ``token`` is a valid Pub/Sub push token; else Unauthorized."""
        claims = await self._claims(token)
        if not one_of(claims.get("iss"), _ISSUERS):
            msg = "Pub/Sub token rejected: the issuer is not accounts.google.com"
            raise Unauthorized(msg)
        if self._email is None or claims.get("email") != self._email:
            msg = "Pub/Sub token rejected: not the CTSYNC_PUBSUB_SERVICE_ACCOUNT service account"
            raise Unauthorized(msg)
        if claims.get("email_verified") is not True:
            msg = "Pub/Sub token rejected: the service account email is not verified"
            raise Unauthorized(msg)

    async def _claims(self, token: str) -> Mapping[str, Any]:
        keys = await self._keys()
        try:
            return self._decode(token, keys)
        except Unauthorized:
            fresh = await self._keys(refresh_if_older_than=_REFRESH_AFTER_S)
            if fresh == keys:
                raise
            return self._decode(token, fresh)

    async def _keys(self, refresh_if_older_than: float | None = None) -> bytes:
        try:
            return await self._cache.get(
                self._certs_url, refresh_if_older_than=refresh_if_older_than
            )
        except FetchError as exc:
            msg = f"Pub/Sub token not checked: {exc}"
            raise Unauthorized(msg) from exc

    def _decode(self, token: str, keys: bytes) -> Mapping[str, Any]:
        from google.oauth2 import id_token  # noqa: PLC0415

        try:
            claims: Mapping[str, Any] = id_token.verify_token(
                token,
                _KeysFromMemory(keys),
                audience=self._audience,
                certs_url=self._certs_url,
                clock_skew_in_seconds=_CLOCK_SKEW_S,
            )
        # google-auth and PyJWT raise many types on hostile tokens (ValueError,
        # their own errors, TypeError, UnicodeDecodeError): each means unproven.
        except Exception as exc:  # noqa: BLE001
            msg = f"Pub/Sub token rejected: {_reason(exc)}"
            raise Unauthorized(msg) from None
        if not isinstance(claims, Mapping):
            msg = "Pub/Sub token rejected: no claims"
            raise Unauthorized(msg)
        return claims


def _reason(exc: Exception) -> str:
    text = str(exc).lower()
    for needle, reason in _REASONS:
        if needle in text:
            return reason
    return "malformed or invalid token"


class _KeysFromMemory(transport.Request):
    """google-auth's transport interface, answering with keys already fetched."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> transport.Response:
        del url, method, body, headers, timeout, kwargs
        return _Answer(self._body)


class _Answer(transport.Response):
    def __init__(self, body: bytes) -> None:
        self._body = body

    @property
    def status(self) -> int:
        return 200

    @property
    def headers(self) -> Mapping[str, str]:
        return {}

    @property
    def data(self) -> bytes:
        return self._body
