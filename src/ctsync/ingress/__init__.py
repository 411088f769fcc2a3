"""Ingress: envelopes, sender checks, and parsing commercetools payloads."""

from __future__ import annotations

from ctsync.ingress._body import MAX_BODY_BYTES, decode_json, inflate
from ctsync.ingress._envelopes import SOURCES, Item, Source, Unwrapped, unwrap
from ctsync.ingress._model import CtEvent
from ctsync.ingress._parse import parse_ct_payload
from ctsync.ingress._sns import SubscriptionNotConfirmed, confirm_subscription
from ctsync.ingress._verify import UNVERIFIED_HINT, Proof, SenderGuard

__all__ = [
    "MAX_BODY_BYTES",
    "SOURCES",
    "UNVERIFIED_HINT",
    "CtEvent",
    "Item",
    "Proof",
    "SenderGuard",
    "Source",
    "SubscriptionNotConfirmed",
    "Unwrapped",
    "confirm_subscription",
    "decode_json",
    "inflate",
    "parse_ct_payload",
    "unwrap",
]
