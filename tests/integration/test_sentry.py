"""Errors reach Sentry (a local stand-in) when SENTRY_DSN is set, scrubbed like the logs.

Run in a child process: the SDK installs process-wide hooks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.fakes.sentry import FakeSentry
from tests.helpers import ROOT, ThreadServer, wait_for

EMAIL = "Sentry.Person@Example.com"
CHILD = textwrap.dedent(
    f"""
    import sentry_sdk
    from ctsync.config import Settings
    from ctsync.logs import configure_logging, get_logger
    from ctsync._sentry import init_sentry

    settings = Settings()
    configure_logging("info", json_output=True)
    assert init_sentry(settings)
    log = get_logger("probe")
    log.info("not_an_error", email="{EMAIL}")
    log.error("write_failed", customer="{EMAIL}", token="tok-secret-1")
    try:
        raise ValueError("could not map {EMAIL}")
    except ValueError:
        log.exception("mapping_crashed", client_secret="cs-secret-2")
    sentry_sdk.flush(10)
    """
)


def test_errors_go_to_sentry_scrubbed() -> None:
    fake = FakeSentry()
    with ThreadServer(fake.app) as server:
        dsn = f"http://publickey@127.0.0.1:{server.port}/1"
        env = {**os.environ, "SENTRY_DSN": dsn}
        done = subprocess.run(
            [sys.executable, "-c", CHILD],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        events = wait_for(lambda: len(fake.events) >= 2 and fake.events, what="2 Sentry events")
    raw = b"".join(fake.raw).decode()
    assert len(events) == 2  # errors only: the info line stayed in the logs
    for secret in (EMAIL, EMAIL.lower(), "tok-secret-1", "cs-secret-2"):
        assert secret not in raw
    assert "email:" in raw  # the hash stands in for the address
    crashed = next(e for e in events if e.get("exception"))
    assert crashed["exception"]["values"][0]["type"] == "ValueError"
    message = next(e for e in events if not e.get("exception"))
    assert "write_failed" in str(message.get("message") or message.get("logentry"))
