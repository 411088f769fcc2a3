"""The admin API's view of Segment deletion regulations (requested for deleted customers)."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ctsync.web._admin import _admin

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/regulations")
async def regulations(request: Request) -> Response:
    """Regulations, newest first, with the status Segment last reported."""
    rt = _admin(request)
    rows = await anyio.to_thread.run_sync(
        rt.store.read, lambda c: c.all("list_regulations", limit=200)
    )
    return JSONResponse(
        {
            "enabled": rt.settings.regulations_enabled,
            "workspace": rt.settings.segment_workspace,
            "regulations": rows,
        }
    )
