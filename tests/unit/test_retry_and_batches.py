"""Retry schedule, batch splitting and pre-send validation."""

from __future__ import annotations

import json
import random

import pytest

from ctsync.delivery import RetryPolicy
from ctsync.sinks import MAX_BATCH_BYTES, chunk_batches, validate_message
from ctsync.sinks._segment import _retry_after


def test_backoff_doubles_with_full_jitter_and_is_capped() -> None:
    policy = RetryPolicy(base_s=1, cap_s=60)
    rng = random.Random(1)
    for failures, ceiling in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (40, 60)]:
        waits = [
            policy.decide(failures=failures, now=0, deadline=1e9, retry_after=None, rng=rng).at
            for _ in range(200)
        ]
        assert all(w is not None and 0 <= w <= ceiling for w in waits)
        assert max(w for w in waits if w is not None) > ceiling * 0.8  # jitter spans the range


def test_retry_after_is_honoured_and_the_horizon_ends_retries() -> None:
    policy = RetryPolicy(base_s=1, cap_s=3600)
    decision = policy.decide(failures=1, now=100, deadline=1e9, retry_after=30)
    assert decision.at is not None
    assert decision.at >= 130
    last = policy.decide(failures=30, now=100, deadline=150, retry_after=None, rng=random.Random(0))
    assert last.at is not None
    assert last.at <= 150  # the last try happens at the horizon, not after it
    assert policy.decide(failures=31, now=150, deadline=150, retry_after=None).give_up


def test_batches_stay_within_segment_limits() -> None:
    messages = [
        {"type": "identify", "userId": f"u{i}", "traits": {"pad": "x" * 20_000}} for i in range(60)
    ]
    sizes = [len(json.dumps(m, separators=(",", ":"))) for m in messages]
    chunks = chunk_batches(sizes)
    assert sorted(i for c in chunks for i in c) == list(range(60))
    for chunk in chunks:
        assert sum(sizes[i] + 1 for i in chunk) + 64 <= MAX_BATCH_BYTES
    assert len(chunks) >= 3


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"type": "identify", "traits": {}}, "userId"),
        ({"type": "track", "userId": "u"}, "event"),
        ({"type": "alias", "userId": "u"}, "previousId"),
        ({"type": "identify", "userId": "u", "traits": {"x": "y" * 33_000}}, "32 KB"),
        ({"type": "bogus", "userId": "u"}, "unknown"),
        ({"type": "identify", "userId": "u", "traits": {"a": 1}}, None),
    ],
)
def test_messages_segment_would_drop_are_caught_before_sending(
    message: dict, problem: str | None
) -> None:
    found = validate_message(message)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@pytest.mark.parametrize(
    ("header", "seconds"), [("5", 5.0), ("0.5", 0.5), (None, None), ("garbage", None), ("-3", 0.0)]
)
def test_retry_after_header_forms(header: str | None, seconds: float | None) -> None:
    assert _retry_after(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    value = _retry_after(when)
    assert value is not None
    assert 100 < value <= 120
