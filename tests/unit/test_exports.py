"""Each package says what it exports, and exports only what exists (STYLE: _private by default)."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "ctsync",
    "ctsync.ingress",
    "ctsync.mapping",
    "ctsync.mapping.file",
    "ctsync.mapping.orders",
    "ctsync.store",
    "ctsync.delivery",
    "ctsync.sinks",
    "ctsync.web",
    "ctsync.commercetools",
    "ctsync.errors",
    "ctsync.config",
    "ctsync.cli_mapping",
    "ctsync.logs",
    "ctsync.metrics",
    "ctsync.pipeline",
    "ctsync.plans",
    "ctsync.regulations",
    "ctsync.routing",
    "ctsync.plugins",
    "ctsync.remap",
    "ctsync.service",
    "ctsync.backfill",
    "ctsync.staged",
    "ctsync.fetcher",
    "ctsync.watchdog",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_real_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(set(exported)) == len(exported)
    for item in exported:
        is_dunder = item.startswith("__") and item.endswith("__")
        assert is_dunder or not item.startswith("_"), f"{name} exports private {item}"
        assert hasattr(module, item), f"{name}.__all__ names missing {item}"
