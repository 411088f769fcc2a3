"""Browser tests: pytest-playwright driving Debian's Chromium (``/usr/bin/chromium``).

``./dev test`` installs Chromium through apt when it is missing; Playwright never
downloads a browser. Screenshots of each page land in tests/artifacts/screenshots.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI
from tests.helpers import ROOT

CHROMIUM = Path(os.environ.get("CTSYNC_CHROMIUM", "/usr/bin/chromium"))
SHOTS = ROOT / "tests" / "artifacts" / "screenshots"
# Flags this machine needs: no sandbox as root, no GPU, and none of Chromium's own
# network traffic (its connections out are refused here, many at a time).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: ./dev test installs Debian's chromium"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "headless": True,
        "args": FLAGS,
    }


@pytest.fixture(scope="session")
def shots() -> Path:
    """Where the screenshots go (kept as test artifacts, not committed)."""
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    return SHOTS
