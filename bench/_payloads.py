"""Realistic CustomerCreated deliveries for the benchmarks, each one a new customer.

Built from ``examples/02-customer-created.json`` (a full commercetools Message with
two addresses), so every contender parses, maps and sends the same shape. Each
delivery gets its own message id, customer id and email: none is a duplicate.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "02-customer-created.json"
PLACEHOLDER = "@K@"  # where the wrk script puts each request's unique key

_MESSAGE_ID = "7d0a1c52-3b8e-4f61-a2d9-5c4e8b7f1a03"
_CUSTOMER_ID = "0c9b5e34-7d2f-4a55-9b1e-3f6a8d2c41e7"
_EMAIL = "Anna.Mueller@Example.com"


def _example_text() -> str:
    """The example delivery as compact JSON (as commercetools sends it)."""
    return json.dumps(json.loads(EXAMPLE.read_text()), separators=(",", ":"), ensure_ascii=False)


def run_id() -> str:
    """8 hex digits that keep this run's ids apart from any earlier run's."""
    return secrets.token_hex(4)


def template(run: str) -> str:
    """The delivery with ``@K@`` where each request's unique key goes.

    ``run`` (8 hex digits) keeps ids unique across runs; the key the wrk script
    fills in completes the UUID-shaped ids.
    """
    text = _example_text()
    for old, new in (
        (_MESSAGE_ID, f"{run}-{PLACEHOLDER}"),
        (_CUSTOMER_ID, f"{run[::-1]}-{PLACEHOLDER}"),
        (_EMAIL, f"Anna.Mueller+{PLACEHOLDER}@Example.com"),
    ):
        if old not in text:
            msg = f"{EXAMPLE} changed: {old!r} not found"
            raise RuntimeError(msg)
        text = text.replace(old, new)
    return text


def key(thread: int, n: int, nonce: int = 0) -> str:
    """The unique part of request ``n`` (as bench/webhook.lua makes it for wrk run ``nonce``)."""
    return f"{nonce:04x}-{thread:04x}-8000-{n:012x}"


def deliveries(run: str, count: int) -> Iterator[dict[str, Any]]:
    """``count`` distinct deliveries (nonce 0, thread 0: wrk runs use other nonces)."""
    text = template(run)
    for n in range(1, count + 1):
        yield json.loads(text.replace(PLACEHOLDER, key(0, n)))


def delivery_body(run: str, n: int) -> bytes:
    """One delivery as the raw bytes a webhook receives."""
    return template(run).replace(PLACEHOLDER, key(0, n)).encode()
