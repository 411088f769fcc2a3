"""Amazon SNS HTTP/S subscriptions: the JSON envelope, raw delivery, the subscription handshake.

SNS posts ``text/plain`` JSON with ``x-amz-sns-message-type``: a
``SubscriptionConfirmation`` (confirmed by GETting its SubscribeURL, only on
an allowed SNS host), then ``Notification`` messages whose ``Message`` is the
commercetools payload, and an ``UnsubscribeConfirmation`` when it ends. With
raw message delivery (``x-amz-sns-rawdelivery: true``) the body is the payload.
A body proven by its SNS signature is read by ``signed`` alone: raw delivery
carries no signature, so only the shared secret can prove one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from ctsync.errors import CtsyncError, InputError
from ctsync.ingress._cloudevents import content_item
from ctsync.ingress._unwrapped import Item, Unwrapped, delivery_id, header_flag, one_of

__all__ = [
    "SNS_TYPES",
    "SubscriptionNotConfirmed",
    "check_sns_url",
    "confirm_subscription",
    "is_sns",
    "is_sns_envelope",
    "raw",
    "signed",
    "sns",
]

SNS_TYPES = frozenset({"Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"})
_MAX_URL = 2048
_CONFIRM_TIMEOUT_S = 10.0


class SubscriptionNotConfirmed(CtsyncError):
    """The SubscribeURL could not be fetched or refused the confirmation (answered 502)."""


def is_sns_envelope(data: Any) -> bool:
    """The SNS JSON envelope itself (``Type``, ``TopicArn``, ``MessageId``, ...)."""
    return isinstance(data, dict) and one_of(data.get("Type"), SNS_TYPES) and "TopicArn" in data


def is_sns(data: Any, headers: Mapping[str, str]) -> bool:
    """Sent by SNS: its message-type header, or its envelope's shape."""
    return "x-amz-sns-message-type" in headers or is_sns_envelope(data)


def sns(data: Any, headers: Mapping[str, str]) -> Unwrapped:
    """The commercetools payload of an SNS delivery, or the handshake it asks for."""
    if header_flag(headers, "x-amz-sns-rawdelivery") and not is_sns_envelope(data):
        return raw(data, headers)
    return signed(data)


def signed(data: Any) -> Unwrapped:
    """The SNS JSON envelope, by its signed keys only: ``Type``, ``MessageId``, ``Message``.

    No header and no other key of the body decides anything here, so a body
    whose signature was checked yields exactly what AWS signed.
    """
    if not isinstance(data, dict):
        msg = "an SNS message must be a JSON object"
        raise InputError(msg)
    kind = data.get("Type")
    if kind == "SubscriptionConfirmation":
        return Unwrapped(cloud=True, confirm_url=_subscribe_url(data))
    if kind == "UnsubscribeConfirmation":
        return Unwrapped(reply={"status": "unsubscribed"}, cloud=True)
    if kind != "Notification":
        shown = str(kind)[:40] if kind is not None else "missing"
        msg = f"unknown SNS message Type ({shown}): expected Notification or a confirmation"
        raise InputError(msg)
    did = delivery_id(data.get("MessageId"))
    message = data.get("Message")
    if not isinstance(message, str):
        item = Item("sns", data, did, "the SNS notification has no Message string")
    else:
        item = content_item("sns", message, did)
    return Unwrapped([item], cloud=True)


def raw(data: Any, headers: Mapping[str, str]) -> Unwrapped:
    """Raw message delivery: the body is the payload; the id is in ``x-amz-sns-message-id``."""
    did = delivery_id(headers.get("x-amz-sns-message-id"))
    return Unwrapped([content_item("sns", data, did)], cloud=True)


def _subscribe_url(data: dict[str, Any]) -> str:
    url = data.get("SubscribeURL")
    if not isinstance(url, str) or not url:
        msg = "SubscriptionConfirmation without a SubscribeURL"
        raise InputError(msg)
    return url


def check_sns_url(url: Any, host_pattern: str, *, what: str, pem: bool = False) -> str:
    """``url`` if it is https on a host matching CTSYNC_SNS_CERT_HOST (and a .pem when asked)."""
    if not isinstance(url, str) or not url or len(url) > _MAX_URL:
        msg = f"{what} is missing or not a URL"
        raise InputError(msg)
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port  # raises on a malformed port
    except ValueError as exc:
        msg = f"{what} is not a valid URL"
        raise InputError(msg) from exc
    if parts.scheme != "https" or parts.username is not None:
        msg = f"{what} must be an https URL without credentials"
        raise InputError(msg)
    if not re.fullmatch(host_pattern, host):
        msg = f"{what} host {host[:80]!r} is not an SNS host (CTSYNC_SNS_CERT_HOST)"
        raise InputError(msg)
    if pem and not parts.path.endswith(".pem"):
        msg = f"{what} must point to a .pem certificate"
        raise InputError(msg)
    return url


async def confirm_subscription(url: str, host_pattern: str) -> None:
    """GET the SubscribeURL (SNS's confirmation); InputError when its host is not allowed."""
    check_sns_url(url, host_pattern, what="SubscribeURL")
    try:
        async with httpx.AsyncClient(timeout=_CONFIRM_TIMEOUT_S) as client:
            response = await client.get(url)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        msg = f"could not reach the SubscribeURL: {type(exc).__name__}"
        raise SubscriptionNotConfirmed(msg) from exc
    if not response.is_success:
        msg = f"the SubscribeURL answered {response.status_code}"
        raise SubscriptionNotConfirmed(msg)
