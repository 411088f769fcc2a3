"""When to try a failed message again: exponential backoff with full jitter.

The schedule lives in the outbox row (``next_attempt_at``, ``deadline``), not in
a library's in-memory loop, so it survives restarts and is shared by workers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Retry at ``at`` (epoch seconds), or give up (``at`` is None: dead letter)."""

    at: float | None
    reason: str

    @property
    def give_up(self) -> bool:
        return self.at is None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Full-jitter backoff: wait uniform(0, min(cap, base * 2**(n-1))), honour Retry-After.

    A message is retried until its deadline (created + horizon: a time, not an
    attempt count); the last attempt is made at the deadline itself.
    """

    base_s: float = 1.0
    cap_s: float = 3600.0

    def decide(
        self,
        *,
        failures: int,
        now: float,
        deadline: float,
        retry_after: float | None,
        rng: random.Random | None = None,
    ) -> RetryDecision:
        if now >= deadline:
            return RetryDecision(None, "retry horizon passed")
        at = min(
            self.next_at(failures=failures, now=now, retry_after=retry_after, rng=rng), deadline
        )
        return RetryDecision(at, f"retry in {at - now:.1f} s")

    def next_at(
        self,
        *,
        failures: int,
        now: float,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> float:
        """When to try again after ``failures`` failures in a row (with no deadline)."""
        ceiling = min(self.cap_s, self.base_s * 2 ** min(max(failures, 1) - 1, 62))
        wait = (rng or random).uniform(0, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap_s))
        return now + wait
