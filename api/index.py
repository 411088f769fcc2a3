"""The Vercel entry point: the ASGI app, configured from the environment.

On Vercel (``VERCEL`` set) the webhook delivers inline within a short budget and
``/api/cron/drain`` (Vercel Cron, GET) delivers the rest; no background tasks.
"""

from __future__ import annotations

from ctsync.web import create_app

app = create_app(freeze_heap=True)
