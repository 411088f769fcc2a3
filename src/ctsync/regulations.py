"""Segment deletion regulations for deleted customers, requested and followed to the end.

A Track "Customer Deleted" does not erase anyone in Segment. With
``SEGMENT_PUBLIC_API_TOKEN`` and ``SEGMENT_WORKSPACE`` set, each deleted
customer also gets a workspace regulation (``POST /regulations``,
``SUPPRESS_WITH_DELETE`` by default) through Segment's Public API, whose
status is polled (``GET /regulations/{regulateId}``) until Segment says it is
finished, failed or not supported. Rows live in the ``regulations`` table;
``ctsync regulations`` and ``GET /api/admin/regulations`` show them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx

from ctsync.config import Settings
from ctsync.errors import PermanentError, RetryableError
from ctsync.logs import get_logger
from ctsync.store import Conn, Store, storable_text

__all__ = ["RegulationClient", "process_regulations"]

log = get_logger("ctsync.regulations")
_FINAL = frozenset({"FINISHED", "FAILED", "INVALID", "NOT_SUPPORTED", "PARTIAL_SUCCESS"})
_RETRY_CAP_S = 3600.0  # unreachable or 5xx: wait the poll interval, doubling, at most an hour


class RegulationClient:
    """The two calls of Segment's Public API that ctsync makes (Bearer token)."""

    def __init__(
        self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        token = settings.segment_public_api_token
        secret = token.get_secret_value() if token else ""
        self._client = httpx.AsyncClient(
            base_url=settings.segment_public_api_url.rstrip("/"),
            timeout=settings.sink_timeout_s,
            headers={"Authorization": f"Bearer {secret}", "User-Agent": "ctsync"},
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"RegulationClient(base_url={str(self._client.base_url)!r}, token=***)"

    async def create(self, regulation_type: str, user_id: str) -> str:
        """Request a regulation of one userId; its regulateId."""
        body = {
            "regulationType": regulation_type,
            "subjectType": "USER_ID",
            "subjectIds": [user_id],
        }
        data = await self._call("POST", "/regulations", json=body)
        regulate_id = (data.get("data") or {}).get("regulateId")
        if not isinstance(regulate_id, str) or not regulate_id:
            msg = "Segment's answer to POST /regulations has no data.regulateId"
            raise PermanentError(msg)
        return regulate_id

    async def status(self, regulate_id: str) -> str:
        """The regulation's overallStatus (INITIALIZED, RUNNING, FINISHED, ...)."""
        data = await self._call("GET", f"/regulations/{regulate_id}")
        regulation = (data.get("data") or {}).get("regulation") or {}
        status = regulation.get("overallStatus")
        return status if isinstance(status, str) and status else "UNKNOWN"

    async def _call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        try:
            response = await self._client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            msg = f"Segment Public API unreachable: {type(exc).__name__}"
            raise RetryableError(msg) from exc
        code = response.status_code
        if code == 429 or code >= 500:
            raise RetryableError(f"HTTP {code} from Segment's Public API", status_code=code)
        if code >= 400:
            msg = f"HTTP {code} from Segment's Public API: {storable_text(response.text[:300])}"
            raise PermanentError(msg, status_code=code)
        try:
            data = response.json()
        except ValueError as exc:
            raise PermanentError("Segment's Public API answered no JSON") from exc
        return data if isinstance(data, dict) else {}

    async def aclose(self) -> None:
        await self._client.aclose()


@dataclass(frozen=True, slots=True)
class _Outcome:
    regulate_id: str | None
    status: str
    detail: str | None
    next_check_at: float


async def process_regulations(
    store: Store, client: RegulationClient, *, poll_s: float, limit: int = 50
) -> int:
    """Request the new regulations and poll the running ones that are due; how many."""
    now = time.time()
    rows = await store.awrite(
        lambda c: c.all("due_regulations", now=now, limit=limit), durable=False
    )
    for row in rows:
        outcome = await _advance(client, row, now, poll_s)
        await store.awrite(partial(_record, row=row, outcome=outcome))
        if outcome.status in _FINAL:
            log.info("regulation_done", action="regulate", status=outcome.status, id=row["id"])
    return len(rows)


def _record(conn: Conn, *, row: dict[str, Any], outcome: _Outcome) -> None:
    conn.run(
        "set_regulation",
        id=row["id"],
        regulate_id=outcome.regulate_id,
        status=outcome.status,
        detail=outcome.detail,
        attempts=row["attempts"] + (1 if outcome.detail else 0),
        now=time.time(),
        next_check_at=outcome.next_check_at,
    )


async def _advance(
    client: RegulationClient, row: dict[str, Any], now: float, poll_s: float
) -> _Outcome:
    try:
        if row["regulate_id"] is None:
            regulate_id = await client.create(row["regulation_type"], row["user_id"])
            return _Outcome(regulate_id, "INITIALIZED", None, now + poll_s)
        status = await client.status(row["regulate_id"])
        return _Outcome(None, status, None, now + poll_s)
    except RetryableError as exc:
        wait = min(_RETRY_CAP_S, poll_s * 2 ** min(row["attempts"], 16))
        return _Outcome(None, row["status"], str(exc), now + wait)
    except PermanentError as exc:
        return _Outcome(None, "refused", str(exc), now)
