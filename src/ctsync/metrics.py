"""Prometheus metrics, all named ``ctsync_*``; outcomes are labels."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "EVENTS",
    "MESSAGES",
    "OUTBOX",
    "RATE_LIMITED",
    "REQUESTS",
    "SEND_LATENCY",
    "SINK_KEY_REJECTED",
    "SINK_REACHABLE",
    "SUBSCRIPTION",
    "UNPROTECTED",
    "WEBHOOK_LATENCY",
]

EVENTS = Counter(
    "ctsync_events_total", "commercetools deliveries by outcome", ["status", "envelope"]
)
MESSAGES = Counter("ctsync_messages_total", "Outbox messages by delivery outcome", ["status"])
REQUESTS = Counter("ctsync_webhook_requests_total", "Webhook requests by HTTP status", ["code"])
WEBHOOK_LATENCY = Histogram(
    "ctsync_webhook_seconds",
    "Time to answer a webhook request",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SEND_LATENCY = Histogram(
    "ctsync_sink_seconds",
    "Latency of one batch request to the sink",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RATE_LIMITED = Counter("ctsync_rate_limited_total", "Times delivery waited for the rate limit")
OUTBOX = Gauge("ctsync_outbox_messages", "Outbox messages by status", ["status"])
SUBSCRIPTION = Gauge(
    "ctsync_subscription_status",
    "The commercetools subscription's health: 1 for its current status, 0 for the others",
    ["key", "status"],
)
SINK_KEY_REJECTED = Gauge(
    "ctsync_sink_key_rejected",
    "1 while the sink answers 401/403 (a bad or rotated write key); messages are retried",
)
SINK_REACHABLE = Gauge(
    "ctsync_sink_reachable", "1 when the last readiness probe reached the sink, else 0"
)
UNPROTECTED = Gauge(
    "ctsync_unprotected",
    "1 for a route anyone may use (CTSYNC_ALLOW_UNVERIFIED=true and no credential for it)",
    ["route"],
)
