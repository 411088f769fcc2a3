"""Prometheus metrics, all named ``ctsync_*``; outcomes are labels.

prometheus_client costs the serverless cold start ~25 ms, and a webhook request
only counts. So each metric here is a stand-in that queues what it is told
(``inc``, ``set``, ``observe``) until the first scrape (``registry()``) or until
``_MAX_PENDING`` updates wait; then prometheus_client is imported, the real
metrics are created in the default registry, the queued updates replayed, and
every later update goes straight to them. A scrape reads exactly what it would
have read had the real metrics existed from the start.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = [
    "BACKFILL_PROGRESS",
    "BACKFILL_STAGED",
    "DEAD_LETTERS",
    "DELIVERY_LATENCY",
    "EVENTS",
    "MESSAGES",
    "OLDEST_DUE_AGE",
    "OUTBOX",
    "RATE_LIMITED",
    "REPLAYED",
    "REQUESTS",
    "RETENTION_PURGED",
    "SEND_LATENCY",
    "SINK_KEY_REJECTED",
    "SINK_REACHABLE",
    "SINK_RESPONSES",
    "SUBSCRIPTION",
    "UNPROTECTED",
    "WEBHOOK_LATENCY",
    "registry",
]

_MAX_PENDING = 10_000  # a server nobody scrapes creates the real metrics after this many
_lock = threading.Lock()
_pending: list[tuple[_Metric, tuple[tuple[str, str], ...], str, float]] = []
_all: list[_Metric] = []
_real: list[bool] = []  # [True] once the real metrics exist
_OPS = {"Counter": ("inc",), "Gauge": ("inc", "set"), "Histogram": ("observe",)}


class _Metric:
    """A Counter, Gauge or Histogram of prometheus_client, created on first need."""

    def __init__(
        self, kind: str, name: str, doc: str, labelnames: tuple[str, ...] = (), **kw: Any
    ) -> None:
        self._kind, self._name, self._doc = kind, name, doc
        self._labelnames, self._kw = labelnames, kw
        self._impl: Any = None
        _all.append(self)

    def labels(self, **labels: str) -> _Child:
        """The child for these label values (each of the metric's label names, no other)."""
        if sorted(labels) != sorted(self._labelnames):
            raise ValueError("Incorrect label names")
        return _Child(self, tuple((k, str(labels[k])) for k in self._labelnames))

    def inc(self, amount: float = 1) -> None:
        """Add ``amount`` (a Counter or Gauge without labels)."""
        self._update((), "inc", amount)

    def set(self, value: float) -> None:
        """Set to ``value`` (a Gauge without labels)."""
        self._update((), "set", value)

    def observe(self, amount: float) -> None:
        """Record one observation (a Histogram without labels)."""
        self._update((), "observe", amount)

    def _update(self, labels: tuple[tuple[str, str], ...], op: str, value: float) -> None:
        if op not in _OPS[self._kind] or (self._kind == "Counter" and value < 0):
            raise ValueError(f"{self._kind} {self._name} cannot {op} {value}")  # as it would
        if self._impl is None:
            with _lock:
                if not _real:
                    _pending.append((self, labels, op, float(value)))
                    if len(_pending) < _MAX_PENDING:
                        return
                    _create_real()
                    return
        _apply(self._impl, labels, op, float(value))


class _Child:
    """A labelled child: ``METRIC.labels(...)``."""

    __slots__ = ("_labels", "_metric")

    def __init__(self, metric: _Metric, labels: tuple[tuple[str, str], ...]) -> None:
        self._metric, self._labels = metric, labels

    def inc(self, amount: float = 1) -> None:
        """Add ``amount``."""
        self._metric._update(self._labels, "inc", amount)  # noqa: SLF001 - its own parent

    def set(self, value: float) -> None:
        """Set to ``value``."""
        self._metric._update(self._labels, "set", value)  # noqa: SLF001 - its own parent

    def observe(self, amount: float) -> None:
        """Record one observation."""
        self._metric._update(self._labels, "observe", amount)  # noqa: SLF001 - its own parent


def _apply(impl: Any, labels: tuple[tuple[str, str], ...], op: str, value: float) -> None:
    target = impl.labels(**dict(labels)) if labels else impl
    getattr(target, op)(value)


def _create_real() -> None:
    """Create the real metrics and replay what waited; the caller holds ``_lock``."""
    import prometheus_client  # noqa: PLC0415 - not at import: the cold start only counts

    for m in _all:
        kind = getattr(prometheus_client, m._kind)  # noqa: SLF001 - module-private class
        m._impl = kind(m._name, m._doc, m._labelnames, **m._kw)  # noqa: SLF001 - as above
    for metric, labels, op, value in _pending:
        _apply(metric._impl, labels, op, value)  # noqa: SLF001 - as above
    _pending.clear()
    _real.append(True)


def registry() -> CollectorRegistry:
    """prometheus_client's default registry, holding every ``ctsync_*`` metric up to date."""
    from prometheus_client import REGISTRY  # noqa: PLC0415 - a scrape, not the cold start

    with _lock:
        if not _real:
            _create_real()
    return REGISTRY


def _counter(name: str, doc: str, labelnames: list[str] | None = None) -> _Metric:
    """A stand-in for ``prometheus_client.Counter``."""
    return _Metric("Counter", name, doc, tuple(labelnames or ()))


def _gauge(name: str, doc: str, labelnames: list[str] | None = None) -> _Metric:
    """A stand-in for ``prometheus_client.Gauge``."""
    return _Metric("Gauge", name, doc, tuple(labelnames or ()))


def _histogram(name: str, doc: str, *, buckets: tuple[float, ...]) -> _Metric:
    """A stand-in for ``prometheus_client.Histogram``."""
    return _Metric("Histogram", name, doc, (), buckets=buckets)


EVENTS = _counter(
    "ctsync_events_total",
    "commercetools deliveries by outcome and envelope",
    ["status", "envelope"],
)
MESSAGES = _counter("ctsync_messages_total", "Outbox messages by delivery outcome", ["status"])
REQUESTS = _counter("ctsync_webhook_requests_total", "Webhook requests by HTTP status", ["code"])
WEBHOOK_LATENCY = _histogram(
    "ctsync_webhook_seconds",
    "Time to answer a webhook request",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SEND_LATENCY = _histogram(
    "ctsync_sink_seconds",
    "Latency of one batch request to the sink",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RATE_LIMITED = _counter("ctsync_rate_limited_total", "Times delivery waited for the rate limit")
OUTBOX = _gauge("ctsync_outbox_messages", "Outbox messages by status", ["status"])
OLDEST_DUE_AGE = _gauge(
    "ctsync_outbox_oldest_due_seconds", "How long the oldest due message has waited"
)
DELIVERY_LATENCY = _histogram(
    "ctsync_delivery_seconds",
    "From accepted (queued) to delivered, per message",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400),
)
SINK_RESPONSES = _counter(
    "ctsync_sink_responses_total", "Sink answers by HTTP status code", ["code"]
)
DEAD_LETTERS = _counter(
    "ctsync_dead_letters_total",
    "Messages dead-lettered, by reason (invalid_message, retry_horizon, http_<code>)",
    ["reason"],
)
REPLAYED = _counter("ctsync_replayed_total", "Messages queued again by a replay", ["how"])
RETENTION_PURGED = _counter(
    "ctsync_retention_purged_total", "Rows retention removed, by kind", ["kind"]
)
BACKFILL_PROGRESS = _gauge(
    "ctsync_backfill_processed",
    "Resources each backfill has processed so far (read from the store at each scrape)",
    ["name", "resource", "status"],
)
BACKFILL_STAGED = _gauge(
    "ctsync_backfill_staged",
    "Resources each backfill has read that wait to be queued, and its pages that failed",
    ["name", "what"],
)
SUBSCRIPTION = _gauge(
    "ctsync_subscription_status",
    "The commercetools subscription's health: 1 for its current status, 0 for the others",
    ["key", "status"],
)
SINK_KEY_REJECTED = _gauge(
    "ctsync_sink_key_rejected",
    "1 while the sink answers 401/403 (a bad or rotated write key); messages are retried",
)
SINK_REACHABLE = _gauge(
    "ctsync_sink_reachable", "1 when the last readiness probe reached the sink, else 0"
)
UNPROTECTED = _gauge(
    "ctsync_unprotected",
    "1 for a route anyone may use (CTSYNC_ALLOW_UNVERIFIED=true and no credential for it)",
    ["route"],
)
