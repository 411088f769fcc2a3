"""Gives each HTTP request an id, bound to every log line it causes and echoed back.

An ``X-Request-Id`` from the caller (a proxy's, a load balancer's) is kept when it
looks like an id; otherwise one is made. A pure ASGI middleware (Starlette's
shape), so it costs the webhook one header and two context-variable writes.
"""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ctsync.logs import structlog

_SANE = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")


class RequestId:
    """ASGI middleware: ``request_id`` in the log context and the ``X-Request-Id`` header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        rid = given.decode() if _SANE.match(given) else uuid.uuid4().hex[:16]
        tokens = structlog.contextvars.bind_contextvars(request_id=rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("x-request-id", rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)
