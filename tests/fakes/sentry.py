"""A stand-in for Sentry's ingest endpoint on loopback: records every envelope item.

The SDK posts envelopes (newline-separated JSON, maybe gzip- or brotli-free gzip
only here) to ``/api/<project>/envelope/``.
"""

from __future__ import annotations

import gzip
import json
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["FakeSentry"]


class FakeSentry:
    """Collects the JSON items of every envelope it receives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        route = Route("/api/{project}/envelope/", self._envelope, methods=["POST"])
        self.app = Starlette(routes=[route])

    async def _envelope(self, request: Request) -> JSONResponse:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        items = []
        for line in body.splitlines():
            try:
                items.append(json.loads(line))
            except ValueError:
                continue
        with self._lock:
            self.raw.append(body)
            self._items.extend(items)
        return JSONResponse({"id": "0" * 32})

    @property
    def events(self) -> list[dict[str, Any]]:
        """Envelope items that are events (they carry an ``event_id`` and a ``level``)."""
        with self._lock:
            return [i for i in self._items if "level" in i and "event_id" in i]
