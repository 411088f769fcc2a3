"""The dashboard's pure parts: masking, times, the chart's scale, dead-letter reasons."""

from __future__ import annotations

import pytest

from ctsync.delivery._observe import dead_reason
from ctsync.errors import InputError
from ctsync.web._chart import build, span_of
from ctsync.web._pages import ago, mask, parse_time


def test_mask_hides_secret_keys_and_url_passwords_at_any_depth() -> None:
    value = {
        "customer": {"email": "a@b.co", "password": "hash", "addresses": [{"token": "t"}]},
        "url": "postgres://user:pw@db/x",
        "clientSecret": "",
        "name": "Jane",
    }
    assert mask(value) == {
        "customer": {"email": "a@b.co", "password": "***", "addresses": [{"token": "***"}]},
        "url": "postgres://user:***@db/x",
        "clientSecret": "",  # nothing to hide
        "name": "Jane",
    }


def test_times_are_utc_and_bad_ones_are_a_clear_400() -> None:
    assert parse_time("2026-01-02T03:04", "since") == 1767323040.0
    assert parse_time("2026-01-02T03:04+01:00", "since") == 1767323040.0 - 3600
    assert parse_time("", "since") is None
    with pytest.raises(InputError, match="since: not a date"):
        parse_time("yesterday", "since")
    assert ago(90) == "1.5 min"
    assert ago(None) == "-"


def test_chart_scales_each_series_to_the_peak() -> None:
    chart = build({"received": [0, 2, 4], "dead": [0, 0, 1]}, since=0.0, until=60.0)
    received, dead = chart.lines
    assert chart.peak == 4
    assert received.total == 6
    assert dead.total == 1
    ys = [float(p.split(",")[1]) for p in received.points.split()]
    assert ys[0] > ys[1] > ys[2]  # higher counts are drawn higher (smaller y)
    assert span_of("bogus")[0] == "day"


@pytest.mark.parametrize(
    ("code", "detail", "label"),
    [
        (400, "HTTP 400 from Segment", "http_400"),
        (503, "HTTP 503; retry horizon passed", "retry_horizon"),
        (None, "invalid message: no userId", "invalid_message"),
        (None, "timed out; retry horizon passed", "retry_horizon"),
    ],
)
def test_dead_letter_reasons_are_few_labels(code: int | None, detail: str, label: str) -> None:
    assert dead_reason(code, detail) == label
