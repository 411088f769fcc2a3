"""What the commercetools commands of ``ctsync`` show: backfill progress, in a terminal or not.

The commands themselves stay in ``cli.py`` (thin); the work is the service
functions of ``ctsync.backfill``; this module only drives them and renders.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ctsync.backfill import BackfillOptions, BackfillProgress, run_backfill
from ctsync.commercetools import ApiConfig, CommercetoolsClient
from ctsync.config import Settings
from ctsync.service import Runtime

__all__ = [
    "backfill_command",
    "subscription_check",
    "subscription_create",
    "subscription_list",
]


class _Rate(ProgressColumn):
    """Resources per second (rich's speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f}/s", style="progress.data.speed")


class _Lines:
    """Plain progress lines for logs and pipes: at most one every ``every_s`` seconds."""

    def __init__(self, console: Console, every_s: float = 2.0) -> None:
        self._console = console
        self._every = every_s
        self._last = 0.0

    def __call__(self, p: BackfillProgress) -> None:
        now = time.monotonic()
        if p.status == "running" and now - self._last < self._every and p.processed:
            return
        self._last = now
        done_now = p.processed - p.done_before
        rate = done_now / max(now - p.started, 1e-9)
        total = f"/{p.total:,}" if p.total is not None else ""
        left = (p.total - p.processed) / rate if p.total is not None and rate > 0 else None
        eta = f", ETA {left:,.0f} s" if left is not None and p.status == "running" else ""
        self._console.print(
            f"{p.name}: {p.processed:,}{total} read, {p.queued:,} queued, {p.staged:,} to queue "
            f"({rate:,.0f}/s{eta}) {p.status}",
            highlight=False,
        )


def backfill_command(
    settings: Settings, rt: Runtime, options: BackfillOptions, *, out: Console, err: Console
) -> BackfillProgress:
    """Run one backfill with a progress bar (terminal) or progress lines (otherwise)."""
    config = ApiConfig.from_settings(settings)

    async def main() -> BackfillProgress:
        async with CommercetoolsClient(config) as client:
            horizon = settings.retry_horizon_s
            if not err.is_terminal:
                return await run_backfill(
                    rt.store, client, rt.planner, options, horizon_s=horizon, report=_Lines(err)
                )
            with _bar(err) as bar:
                task = bar.add_task(options.resource, total=None)

                def show(p: BackfillProgress) -> None:
                    bar.update(task, total=p.total, completed=p.processed)

                return await run_backfill(
                    rt.store, client, rt.planner, options, horizon_s=horizon, report=show
                )

    try:
        result = asyncio.run(main())
    finally:
        asyncio.run(rt.aclose())
    out.print_json(json.dumps(result.to_json()))
    if result.staged and not options.dry_run:
        err.print(
            f"{result.staged:,} read resources wait to be queued: the delivery side queues "
            "them (ctsync serve or worker, the cron drain, or `ctsync drain`); "
            "`ctsync backfill --wait` queues them here",
            highlight=False,
        )
    return result


def _bar(console: Console) -> Progress:
    columns: list[Any] = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeRemainingColumn(),
    ]
    return Progress(*columns, console=console, transient=False)


_SECRET_FIELDS = {"accessSecret", "apiSecret", "connectionString", "accessKey"}


def _masked(subscription: dict[str, Any]) -> dict[str, Any]:
    """The subscription as printed: destination secrets masked."""
    destination = dict(subscription.get("destination") or {})
    for name in _SECRET_FIELDS & destination.keys():
        destination[name] = "***"
    return {**subscription, "destination": destination}


def subscription_create(
    settings: Settings, draft: dict[str, Any], *, webhook_url: str, out: Console
) -> dict[str, Any]:
    """Create the subscription; print it and the settings ctsync needs for its deliveries."""
    from ctsync.commercetools._subscriptions import sender_settings  # noqa: PLC0415

    async def main() -> dict[str, Any]:
        async with CommercetoolsClient(ApiConfig.from_settings(settings)) as client:
            return await client.request("POST", "/subscriptions", json=draft)

    created = asyncio.run(main())
    out.print_json(json.dumps(_masked(created)))
    plan = sender_settings(draft["destination"], webhook_url)
    out.print(f"\nTo reach ctsync: {plan.route}.", highlight=False)
    out.print("Set for ctsync (sender check):", highlight=False)
    for name, value in plan.settings.items():
        out.print(f"  {name}={value}", highlight=False, soft_wrap=True)
    return created


def subscription_list(settings: Settings, *, out: Console) -> list[dict[str, Any]]:
    """Every subscription of the project, with its status."""
    from rich.table import Table  # noqa: PLC0415

    async def main() -> list[dict[str, Any]]:
        async with CommercetoolsClient(ApiConfig.from_settings(settings)) as client:
            found: list[dict[str, Any]] = []
            async for page in client.pages("subscriptions"):
                found.extend(page)
            return found

    found = asyncio.run(main())
    table = Table("key", "id", "destination", "status", "messages", "changes", "format")
    for sub in found:
        table.add_row(
            str(sub.get("key") or ""),
            str(sub.get("id")),
            str((sub.get("destination") or {}).get("type")),
            str(sub.get("status")),
            ", ".join(m.get("resourceTypeId", "?") for m in sub.get("messages") or []),
            ", ".join(c.get("resourceTypeId", "?") for c in sub.get("changes") or []),
            str((sub.get("format") or {}).get("type", "Platform")),
        )
    out.print(table if found else "no subscriptions")
    return found


async def subscription_check(rt: Runtime, *, out: Console) -> bool:
    """Read the watched subscription's status; True when Healthy. Prints the gap backfill."""
    from ctsync.watchdog import gap_start  # noqa: PLC0415

    if rt.watchdog is None:
        out.print("subscription: not checked (no CTP_* credentials)")
        return True
    health = await rt.watchdog.check()
    if health.healthy:
        out.print(f"subscription {health.key!r}: Healthy")
        return True
    out.print(f"subscription: [red]{health.note()}[/red]")
    since = await asyncio.to_thread(gap_start, rt.store)
    if since is not None and health.status is not None:
        out.print(
            "after delivery resumes: ctsync backfill customers --since "
            f"{since.isoformat(timespec='seconds')}",
            highlight=False,
        )
    return False
