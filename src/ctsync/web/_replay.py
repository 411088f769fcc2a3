"""Replay by filter, shared by the dashboard and the JSON API: preview, then run.

Re-sends what was delivered (or dead-lettered, or discarded) for a customer, an
email, a time range or a status: the fix for a Segment outage that answered 200
and lost events, or for a wrong mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from ctsync import metrics
from ctsync.errors import InputError
from ctsync.logs import get_logger
from ctsync.mapping import normalize_email
from ctsync.store._browse import (
    ReplayFilter,
    overtaken,
    overtaken_note,
    replay_targets,
    requeue,
    retention_note,
)
from ctsync.web._pages import now, parse_time, read, runtime, text, write

log = get_logger("ctsync.replay")
STATUSES = ("delivered", "captured", "dead", "discarded")
SAMPLE = 20


def replay_filter(q: Mapping[str, Any]) -> ReplayFilter:
    """The filter from form or query fields: customer, email, since, until, status."""
    status = text(q.get("status"), "status", limit=20)
    if status is not None and status not in STATUSES:
        msg = f"status: one of {', '.join(STATUSES)} (or empty for all four)"
        raise InputError(msg)
    email = text(q.get("email"), "email")
    f = ReplayFilter(
        customer=text(q.get("customer"), "customer"),
        user_id=normalize_email(email) if email else None,
        since=parse_time(q.get("since"), "since"),
        until=parse_time(q.get("until"), "until"),
        status=status,
    )
    if f.empty:
        msg = "name at least a customer, an email, a time range or a status"
        raise InputError(msg)
    return f


async def replay_preview(request: Request, q: Mapping[str, Any]) -> dict[str, Any]:
    """How many messages a replay would queue, a sample, and the retention note."""
    f = replay_filter(q)

    def load(c: Any) -> tuple[list[Any], int]:
        found = replay_targets(c, f)
        return found, overtaken(c, found)

    rows, behind = await read(request, load)
    return {
        "overtaken": overtaken_note(behind),
        "count": len(rows),
        "sample": [
            {"id": r["id"], "messageId": r["message_id"], "status": r["status"]}
            for r in rows[:SAMPLE]
        ],
        "retention": retention_note(
            f, retention_days=runtime(request).settings.retention_days, now=now()
        ),
    }


async def replay_run(request: Request, q: Mapping[str, Any], *, new_ids: bool) -> int:
    """Queue every match again (attempts reset); returns how many were queued."""
    f = replay_filter(q)
    rt = runtime(request)
    at, horizon = now(), rt.settings.retry_horizon_s
    why = "replayed by filter"
    n: int = await write(
        request,
        lambda c: requeue(
            c, replay_targets(c, f), now=at, horizon_s=horizon, new_ids=new_ids, why=why
        ),
    )
    metrics.REPLAYED.labels(how="filter").inc(n)
    log.info(
        "replayed",
        action="replay",
        how="filter",
        count=n,
        new_ids=new_ids,
        customer=f.customer,
        email=f.user_id,  # hashed by the log scrubber
        since=f.since,
        until=f.until,
        status=f.status,
    )
    rt.drainer.notify()
    return n
