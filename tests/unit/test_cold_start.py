"""The web app's start-up leaves out what a first webhook request does not need."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from ctsync import metrics

# Imported on first use only (each keeps the serverless cold start shorter).
LAZY = (
    "prometheus_client",  # until /metrics is scraped (metrics.registry())
    "jmespath",  # only a mapping file's expressions
    "ruamel",  # only a mapping file
    "ctsync.mapping.file",  # the mapping diff route
    "ctsync.remap",  # the mapping diff route
    "ctsync.web._chart",  # the dashboard's overview page
    "ctsync.commercetools._client",  # fetching from the API (Runtime.open, when configured)
)


def test_create_app_imports_none_of_the_lazy_modules() -> None:
    code = (
        "import ctsync.web, sys; ctsync.web.create_app(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'prometheus_client', "
        "'jmespath', 'ruamel', 'ctsync'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    imported = set(ast.literal_eval(done.stdout.strip().splitlines()[-1]))
    assert "ctsync.web" in imported  # the probe saw the app's modules
    eager = sorted(m for m in imported for lazy in LAZY if m == lazy or m.startswith(lazy + "."))
    assert eager == []


def test_updates_before_the_first_scrape_are_all_in_it() -> None:
    code = """
import sys
from ctsync import metrics
metrics.REPLAYED.labels(how="filter").inc(2)
metrics.REPLAYED.labels(how="filter").inc()
metrics.WEBHOOK_LATENCY.observe(0.003)
metrics.SINK_KEY_REJECTED.set(1)
assert "prometheus_client" not in sys.modules
r = metrics.registry()
print(r.get_sample_value("ctsync_replayed_total", {"how": "filter"}),
      r.get_sample_value("ctsync_webhook_seconds_bucket", {"le": "0.005"}),
      r.get_sample_value("ctsync_webhook_seconds_bucket", {"le": "0.0025"}),
      r.get_sample_value("ctsync_sink_key_rejected"))
metrics.REPLAYED.labels(how="filter").inc()
print(r.get_sample_value("ctsync_replayed_total", {"how": "filter"}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["3.0", "1.0", "0.0", "1.0", "4.0"]


def test_a_wrong_label_or_a_negative_count_fails_at_once() -> None:
    with pytest.raises(ValueError, match="label"):
        metrics.REPLAYED.labels(why="x")
    with pytest.raises(ValueError, match="cannot"):
        metrics.REPLAYED.labels(how="filter").inc(-1)
