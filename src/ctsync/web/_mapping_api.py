"""The admin API's mapping routes: the mapping in use, and a diff of a new one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ctsync.pipeline import default_planner
from ctsync.web._admin import _admin, _body

router = APIRouter(prefix="/api/admin/mapping", tags=["admin"])


# defer_build: a model builds its validator when its route first runs, not at start-up
_STRICT = ConfigDict(extra="forbid", defer_build=True)


class DiffBody(BaseModel):
    """``POST /api/admin/mapping/diff``: the new file's YAML and which stored events to replay."""

    model_config = _STRICT
    mapping: str = Field(max_length=256 * 1024, description="the new mapping file (YAML)")
    last: int | None = Field(default=None, ge=1, le=100_000)
    since: datetime | None = None


@router.post("/diff")
async def diff(request: Request) -> Response:
    """What the stored events would send differently under the given mapping (sends nothing)."""
    # the parser and the diff serve only this route: not imported at start-up (cold start)
    from ctsync.mapping.file import MappingFileError, parse_mapping  # noqa: PLC0415 - see above
    from ctsync.remap import diff_mapping  # noqa: PLC0415 - see above

    rt = _admin(request)
    body = await _body(request, DiffBody)
    try:
        options = parse_mapping(body.mapping, "(request body)")
    except MappingFileError as exc:
        return JSONResponse({"error": str(exc), "problems": list(exc.problems)}, status_code=400)
    since = body.since.timestamp() if body.since else None
    planner = default_planner(options)

    def run(conn: Any) -> dict[str, Any]:
        report = diff_mapping(conn, planner, version=options.version, last=body.last, since=since)
        return report.to_json()

    return JSONResponse(await anyio.to_thread.run_sync(rt.store.read, run))
