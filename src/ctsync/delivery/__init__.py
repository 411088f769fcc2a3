"""Delivery: the outbox drainer, its retry policy and the shared rate limit."""

from __future__ import annotations

from ctsync.config import Settings
from ctsync.delivery._drainer import Drainer, DrainerConfig, DrainReport
from ctsync.delivery._lanes import Lanes
from ctsync.delivery._retry import RetryDecision, RetryPolicy

__all__ = [
    "DrainReport",
    "Drainer",
    "DrainerConfig",
    "Lanes",
    "RetryDecision",
    "RetryPolicy",
    "drainer_config",
]


def drainer_config(settings: Settings) -> DrainerConfig:
    """The drainer's settings, from ctsync's configuration."""
    return DrainerConfig(
        lease_s=settings.lease_s,
        batch_size=settings.batch_size,
        rate_limit=settings.rate_limit,
        policy=RetryPolicy(base_s=settings.retry_base_s, cap_s=settings.retry_cap_s),
    )
