"""Ingress: envelopes, sender checks, and parsing commercetools payloads."""

from __future__ import annotations

from ctsync.ingress._body import MAX_BODY_BYTES, decode_json, inflate
from ctsync.ingress._envelopes import Item, Unwrapped, unwrap
from ctsync.ingress._model import CtEvent
from ctsync.ingress._parse import parse_ct_payload
from ctsync.ingress._verify import UNVERIFIED_HINT, check_sender

__all__ = [
    "MAX_BODY_BYTES",
    "UNVERIFIED_HINT",
    "CtEvent",
    "Item",
    "Unwrapped",
    "check_sender",
    "decode_json",
    "inflate",
    "parse_ct_payload",
    "unwrap",
]
