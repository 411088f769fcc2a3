"""A fake of the two Segment Public API calls ctsync makes: create and get a regulation.

Each regulation moves INITIALIZED -> RUNNING -> FINISHED, one step per GET, so a
test sees ctsync poll it to the end. Requests need ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_STEPS = ("INITIALIZED", "RUNNING", "FINISHED")


@dataclass
class FakeRegulation:
    id: str
    body: dict[str, Any]
    polls: int = 0

    @property
    def status(self) -> str:
        return _STEPS[min(self.polls, len(_STEPS) - 1)]


@dataclass
class FakePublicApi:
    """State and ASGI app; serve it with tests.helpers.ThreadServer."""

    token: str = "public-api-token"
    regulations: dict[str, FakeRegulation] = field(default_factory=dict)
    fail_next: int = 0  # answer 503 to this many requests first
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/regulations", self._create, methods=["POST"]),
                Route("/regulations/{regulate_id}", self._get, methods=["GET"]),
            ]
        )

    def _refuse(self, request: Request) -> JSONResponse | None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"errors": [{"type": "unauthorized"}]}, status_code=401)
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return JSONResponse({"errors": [{"type": "unavailable"}]}, status_code=503)
        return None

    async def _create(self, request: Request) -> JSONResponse:
        if (refused := self._refuse(request)) is not None:
            return refused
        body = await request.json()
        if body.get("subjectType") != "USER_ID" or not body.get("subjectIds"):
            return JSONResponse({"errors": [{"type": "validation"}]}, status_code=422)
        regulation = FakeRegulation(uuid.uuid4().hex[:27], body)
        with self._lock:
            self.regulations[regulation.id] = regulation
        return JSONResponse({"data": {"regulateId": regulation.id}})

    async def _get(self, request: Request) -> JSONResponse:
        if (refused := self._refuse(request)) is not None:
            return refused
        with self._lock:
            regulation = self.regulations.get(request.path_params["regulate_id"])
            if regulation is None:
                return JSONResponse({"errors": [{"type": "not-found"}]}, status_code=404)
            status = regulation.status
            regulation.polls += 1
        return JSONResponse(
            {
                "data": {
                    "regulation": {
                        "id": regulation.id,
                        "workspaceId": "ws-1",
                        "overallStatus": status,
                        "regulationType": regulation.body["regulationType"],
                    }
                }
            }
        )
