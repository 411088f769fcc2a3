"""The CLI's side of timelines and replay by filter (``ctsync events --id``, ``ctsync
replay --customer/--email/--since/--until/--status``): thin over ``store._browse``,
the same functions the dashboard and the JSON API use.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console

from ctsync.mapping import normalize_email
from ctsync.store._browse import (
    ReplayFilter,
    overtaken,
    overtaken_note,
    replay_targets,
    requeue,
    retention_note,
)

STATUSES = ("delivered", "captured", "dead", "discarded")


def _utc(value: datetime | None) -> float | None:
    """A naive time is UTC."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def filter_of(
    customer: str | None,
    email: str | None,
    since: datetime | None,
    until: datetime | None,
    status: str | None,
) -> ReplayFilter:
    """The replay filter from the command's options (exit 2 on an unknown status)."""
    if status is not None and status not in STATUSES:
        Console(stderr=True).print(f"--status: one of {', '.join(STATUSES)}")
        raise typer.Exit(2)
    return ReplayFilter(
        customer=customer,
        user_id=normalize_email(email) if email else None,
        since=_utc(since),
        until=_utc(until),
        status=status,
    )


def replay_by_filter(
    rt: Any, f: ReplayFilter, *, dry_run: bool, new_ids: bool, out: Console, err: Console
) -> None:
    """Count (``dry_run``) or queue again what ``f`` matches; notes go to stderr."""
    now = time.time()
    note = retention_note(f, retention_days=rt.settings.retention_days, now=now)
    if note:
        err.print(f"[yellow]note:[/yellow] {note}")
    behind = rt.store.read(lambda c: overtaken(c, replay_targets(c, f)))
    if behind:
        err.print(f"[yellow]note:[/yellow] {overtaken_note(behind)}")
    if dry_run:
        n = len(rt.store.read(lambda c: replay_targets(c, f)))
        out.print(f"would replay {n} message(s)")
    else:
        horizon = rt.settings.retry_horizon_s
        why = "replayed by filter (cli)"
        n = rt.store.write(
            lambda c: requeue(
                c, replay_targets(c, f), now=now, horizon_s=horizon, new_ids=new_ids, why=why
            )
        )
        out.print(f"replayed {n} message(s)")
    rt.store.close()


def print_timeline(out: Console, steps: list[dict[str, Any]]) -> None:
    """One line per step: time, step, messageId, HTTP status, latency, detail."""
    for step in steps:
        at = time.strftime("%H:%M:%S", time.gmtime(step["at"])) if step["at"] else "--:--:--"
        parts = [f"   {at} [cyan]{step['step']:<10}[/cyan]"]
        if step.get("message_id"):
            parts.append(step["message_id"])
        if step.get("status_code") is not None:
            parts.append(f"HTTP {step['status_code']}")
        if step.get("latency_ms") is not None:
            parts.append(f"{step['latency_ms']:.0f} ms")
        if step.get("detail"):
            parts.append(str(step["detail"]))
        out.print(" ".join(parts), highlight=False, soft_wrap=True)
