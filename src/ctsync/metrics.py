"""Prometheus metrics, all named ``ctsync_*``; outcomes are labels."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
]

EVENTS = Counter(
    "ctsync_events_total",
    "commercetools deliveries by outcome and envelope",
    ["status", "envelope"],
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
OLDEST_DUE_AGE = Gauge(
    "ctsync_outbox_oldest_due_seconds", "How long the oldest due message has waited"
)
DELIVERY_LATENCY = Histogram(
    "ctsync_delivery_seconds",
    "From accepted (queued) to delivered, per message",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400),
)
SINK_RESPONSES = Counter(
    "ctsync_sink_responses_total", "Sink answers by HTTP status code", ["code"]
)
DEAD_LETTERS = Counter(
    "ctsync_dead_letters_total",
    "Messages dead-lettered, by reason (invalid_message, retry_horizon, http_<code>)",
    ["reason"],
)
REPLAYED = Counter("ctsync_replayed_total", "Messages queued again by a replay", ["how"])
RETENTION_PURGED = Counter(
    "ctsync_retention_purged_total", "Rows retention removed, by kind", ["kind"]
)
BACKFILL_PROGRESS = Gauge(
    "ctsync_backfill_processed",
    "Resources each backfill has processed so far (read from the store at each scrape)",
    ["name", "resource", "status"],
)
BACKFILL_STAGED = Gauge(
    "ctsync_backfill_staged",
    "Resources each backfill has read that wait to be queued, and its pages that failed",
    ["name", "what"],
)
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
