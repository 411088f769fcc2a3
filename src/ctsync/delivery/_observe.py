"""What the drainer reports about each batch: metrics and one log line per outcome.

Kept out of the drainer's loop so that how delivery is observed can change without
touching how it is done.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ctsync import metrics
from ctsync.logs import get_logger
from ctsync.store._ops import Claimed, Outcome

log = get_logger("ctsync.delivery")


def log_outcomes(claimed: Sequence[Claimed], outcomes: Sequence[Outcome]) -> None:
    """One line per outcome of a batch (with the events it carried); one per dead letter."""
    by_id = {c.id: c for c in claimed}
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(o.result, []).append(o)
    for result, group in groups.items():
        if result == "dead":
            for o in group:
                c = by_id.get(o.id)
                log.warning(
                    "dead_lettered",
                    action="deliver",
                    event_id=c.event_id if c else None,
                    outbox_id=o.id,
                    message_id=c.message_id if c else None,
                    status_code=o.status_code,
                    reason=o.detail,
                )
            continue
        events = sorted({e for o in group if (e := by_id[o.id].event_id) is not None})
        log.log(
            logging.WARNING if result == "retry" else logging.INFO,
            result,
            action="deliver",
            count=len(group),
            event_ids=events[:100],
            status_code=group[0].status_code,
        )


def count_response(status_code: int | None) -> None:
    """One sink answer by HTTP status code ("none": no answer, e.g. a timeout)."""
    metrics.SINK_RESPONSES.labels(code=str(status_code or "none")).inc()


def observe(claimed: Sequence[Claimed], outcomes: Sequence[Outcome], *, now: float) -> None:
    """Accepted-to-delivered latency of each delivered message; dead letters by reason.

    A replayed message keeps its original acceptance time, so its latency counts
    the time until the replay too.
    """
    queued = {c.id: c.created_at for c in claimed}
    for o in outcomes:
        if o.result in {"delivered", "captured"} and o.id in queued:
            metrics.DELIVERY_LATENCY.observe(max(0.0, now - queued[o.id]))
        elif o.result == "dead":
            metrics.DEAD_LETTERS.labels(reason=dead_reason(o.status_code, o.detail)).inc()


def dead_reason(status_code: int | None, detail: str | None) -> str:
    """A dead letter's reason as a metric label (few values, unlike the stored reason)."""
    if detail and detail.startswith("invalid message"):
        return "invalid_message"
    if status_code is None or status_code in {401, 403, 429} or status_code >= 500:
        return "retry_horizon"  # retryable answers only give up at the horizon
    return f"http_{status_code}"
