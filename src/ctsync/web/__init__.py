"""The ASGI app (FastAPI): webhook, cron drain, health, metrics, admin API."""

from __future__ import annotations

from ctsync.web._app import create_app

__all__ = ["create_app"]
