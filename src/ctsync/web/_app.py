"""The ASGI app: webhook, cron drain, health, readiness, metrics, admin API, dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ctsync import __version__, metrics
from ctsync.config import Settings
from ctsync.errors import InputError, StoreError, StoreUnavailable
from ctsync.ingress import UNVERIFIED_HINT
from ctsync.logs import configure_logging, get_logger
from ctsync.service import Runtime, freeze_startup_heap
from ctsync.web._admin import router as admin_router
from ctsync.web._dashboard import router as dashboard_router
from ctsync.web._mapping_api import router as mapping_router
from ctsync.web._pages import refusal
from ctsync.web._regulations_api import router as regulations_router
from ctsync.web._repair import router as repair_router
from ctsync.web._request_id import RequestId
from ctsync.web._webhook import router as webhook_router

log = get_logger("ctsync.web")


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    background_drainer: bool | None = None,
    freeze_heap: bool = False,
) -> FastAPI:
    """Build the app; what it leaves unprotected is logged as a warning at start.

    The drainer runs as a background task unless the platform freezes the process
    between requests (Vercel, CTSYNC_INLINE_DELIVERY), where the webhook and the
    cron route deliver instead. ``freeze_heap``: the app owns its process (``ctsync
    serve``, Vercel); start-up objects are frozen out of garbage collection.
    """
    settings = settings or Settings()
    configure_logging(settings.log_level)
    if settings.sentry_dsn is not None:  # the Vercel entry point has no CLI to do it
        from ctsync._sentry import init_sentry  # noqa: PLC0415

        init_sentry(settings)
    run_drainer = (not settings.serverless) if background_drainer is None else background_drainer

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime.open(settings)
        app.state.runtime = rt
        _warn_unprotected(settings)
        stop = asyncio.Event()
        idle = settings.drain_interval_s
        tasks = [rt.drainer.run(stop, idle_s=idle), rt.background(stop)] if run_drainer else []
        running = [asyncio.create_task(t) for t in tasks]
        if freeze_heap:
            freeze_startup_heap()
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*running)
            if runtime is None:
                await rt.aclose()

    app = FastAPI(
        title="ctsync",
        version=__version__,
        lifespan=lifespan,
        description="commercetools -> Segment, durably.",
    )
    app.state.settings = settings
    _install_error_handlers(app)
    app.add_middleware(RequestId)
    app.include_router(webhook_router)
    app.include_router(admin_router)
    app.include_router(dashboard_router)
    app.include_router(repair_router)
    app.include_router(mapping_router)
    app.include_router(regulations_router)
    return app


def _warn_unprotected(settings: Settings) -> None:
    """Name at start what anyone may use (log and metric), or that deliveries are refused."""
    for route in ("/api/webhook", "/api/admin", "/api/cron/drain"):
        metrics.UNPROTECTED.labels(route=route).set(1 if route in settings.unprotected else 0)
    if settings.unprotected:
        log.warning(
            "unprotected",
            action="start",
            reason="CTSYNC_ALLOW_UNVERIFIED=true: open to anyone who reaches the service",
            routes=settings.unprotected,
        )
    elif not settings.sender_check_configured:
        log.warning("deliveries_refused", action="start", reason=UNVERIFIED_HINT)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> Response:
        if request.url.path.startswith("/admin"):
            return refusal(request, exc.status_code, str(exc))
        return JSONResponse({"error": str(exc)}, status_code=exc.status_code)

    @app.exception_handler(StoreUnavailable)
    async def _store_down(request: Request, exc: StoreUnavailable) -> Response:
        log.warning("store_unavailable", action="store", error=str(exc))
        what = "the event could not be stored" if _is_webhook(request) else "the store failed"
        if request.url.path.startswith("/admin"):
            return refusal(request, 503, f"{what}, try again: {exc}")
        return JSONResponse(
            {"error": f"{what}, try again: {exc}"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(StoreError)
    async def _store_error(request: Request, exc: StoreError) -> Response:
        return await _store_down(request, StoreUnavailable(str(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        del request
        return JSONResponse(
            {"error": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        del request
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse(
            {"error": f"{where}: {first.get('msg', 'invalid request')}"}, status_code=400
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        error_id = uuid.uuid4().hex[:12]
        log.error(
            "unhandled_error",
            action="request",
            path=request.url.path,
            error_id=error_id,
            error_type=type(exc).__name__,
            exc_info=exc,
        )
        return JSONResponse({"error": "internal error", "errorId": error_id}, status_code=500)


def _is_webhook(request: Request) -> bool:
    return request.url.path.startswith("/api/webhook")
