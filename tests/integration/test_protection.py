"""Exposure is never the bind address: what is open is the operator's explicit choice.

A service on 127.0.0.1 behind nginx or a sidecar is as reachable as one on
0.0.0.0, so nothing is open because of where it listens or what proxy headers
say: deliveries need a sender check, the admin API its token, the cron drain
its secret, unless the operator opted in with CTSYNC_ALLOW_UNVERIFIED=true,
and then the service names at start, and in /api/ready, what anyone may use.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from ctsync.config import Settings
from ctsync.store import open_store
from ctsync.store._ops import list_events
from ctsync.web import create_app
from tests import payloads
from tests.helpers import ROOT, ServerProcess, ThreadServer, free_port, postgres_database, wait_for

JSON = {"content-type": "application/json"}
PROXIED = [
    {},
    {"X-Forwarded-For": "127.0.0.1"},
    {"X-Forwarded-For": "203.0.113.7, 127.0.0.1"},
    {"Forwarded": "for=127.0.0.1;proto=https;by=127.0.0.1"},
    {"X-Real-IP": "127.0.0.1"},
]
SETTINGS_NAMED = (
    "CTSYNC_WEBHOOK_SECRET",
    "CTSYNC_SNS_VERIFY",
    "CTSYNC_PUBSUB_AUDIENCE",
    "CTSYNC_ALLOW_UNVERIFIED",
)


@pytest.fixture
def app(sqlite_url: str) -> Iterator[ThreadServer]:
    """The app on loopback, configured with nothing at all."""
    with ThreadServer(create_app(Settings(DATABASE_URL=sqlite_url))) as server:
        yield server


def routes(url: str, headers: dict[str, str]) -> dict[str, httpx.Response]:
    """One request to each route that must not be open, with ``headers``."""
    delivery = json.dumps(payloads.created()).encode()
    origin = {"WebHook-Request-Origin": "eventgrid.azure.net"}
    return {
        "webhook": httpx.post(f"{url}/api/webhook", content=delivery, headers=JSON | headers),
        "webhook/sns": httpx.post(f"{url}/api/webhook/sns", content=delivery, headers=headers),
        "handshake": httpx.options(f"{url}/api/webhook", headers=origin | headers),
        "events": httpx.get(f"{url}/api/admin/events", headers=headers),
        "replay": httpx.post(f"{url}/api/admin/replay", json={"all": True}, headers=headers),
        "cron": httpx.get(f"{url}/api/cron/drain", headers=headers),
        "cron post": httpx.post(f"{url}/api/cron/drain", headers=headers),
    }


def test_with_nothing_configured_nothing_is_open_whatever_the_proxy_headers_say(
    app: ThreadServer, sqlite_url: str
) -> None:
    for headers in PROXIED:
        answers = routes(app.url, headers)
        assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 401)
        for name in ("webhook", "webhook/sns", "handshake"):
            assert all(s in answers[name].json()["error"] for s in SETTINGS_NAMED), name
        for name in ("events", "replay"):
            assert "CTSYNC_ADMIN_TOKEN" in answers[name].json()["error"]
        assert "CRON_SECRET" in answers["cron"].json()["error"]
    ready = httpx.get(f"{app.url}/api/ready")
    assert ready.status_code == 503
    assert all(s in ready.json()["problems"]["senderCheck"] for s in SETTINGS_NAMED)
    store = open_store(sqlite_url)
    assert store.read(list_events) == []
    store.close()


def test_ctsync_serve_on_loopback_refuses_deliveries_and_says_so_at_start(sqlite_url: str) -> None:
    env = {"DATABASE_URL": sqlite_url, "CTSYNC_ALLOW_UNVERIFIED": "false"}
    with ServerProcess(env) as server:
        for headers in PROXIED:
            r = httpx.post(f"{server.url}/api/webhook", json=payloads.created(), headers=headers)
            assert r.status_code == 401
            assert "CTSYNC_ALLOW_UNVERIFIED" in r.json()["error"]
        assert httpx.get(f"{server.url}/api/admin/events").status_code == 401
    started = server.log_path.read_text()
    assert all(s in started for s in SETTINGS_NAMED)


def test_the_opt_in_opens_what_has_no_credential_and_names_it(sqlite_url: str) -> None:
    server = ServerProcess({"DATABASE_URL": sqlite_url, "CTSYNC_ALLOW_UNVERIFIED": "true"})
    server.env = {
        k: v for k, v in server.env.items() if k not in {"CRON_SECRET", "CTSYNC_ADMIN_TOKEN"}
    }
    with server:
        answers = routes(server.url, {})
        assert answers["webhook"].json()["status"] == "accepted"
        assert answers["events"].json()["events"]
        assert answers["cron"].json()["status"] == "drained"
        ready = httpx.get(f"{server.url}/api/ready").json()
        scraped = httpx.get(f"{server.url}/metrics").text
    assert ready["status"] == "ready"
    assert set(ready["unprotected"]) == {"/api/webhook", "/api/admin", "/api/cron/drain"}
    assert 'ctsync_unprotected{route="/api/admin"} 1.0' in scraped
    started = server.log_path.read_text()
    assert "CTSYNC_ALLOW_UNVERIFIED=true" in started
    assert all(route in started for route in ("/api/webhook", "/api/admin", "/api/cron/drain"))


def test_a_credential_that_is_set_is_required_even_under_the_opt_in(sqlite_url: str) -> None:
    settings = Settings(
        DATABASE_URL=sqlite_url,
        CTSYNC_ALLOW_UNVERIFIED="true",
        CTSYNC_WEBHOOK_SECRET="hush",
        CTSYNC_ADMIN_TOKEN="admin",
        CRON_SECRET="cron",
    )
    with ThreadServer(create_app(settings)) as server:
        for headers in PROXIED:
            answers = routes(server.url, headers)
            assert {n: r.status_code for n, r in answers.items()} == dict.fromkeys(answers, 401)

        def bearer(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        ok = httpx.post(
            f"{server.url}/api/webhook", json=payloads.created(), headers=bearer("hush")
        )
        assert ok.json()["status"] == "accepted"
        assert httpx.get(f"{server.url}/api/admin/events", headers=bearer("admin")).json()["events"]
        cron = httpx.get(f"{server.url}/api/cron/drain", headers=bearer("cron"))
        assert cron.json()["status"] == "drained"
        ready = httpx.get(f"{server.url}/api/ready").json()
    assert ready["status"] == "ready"
    assert "unprotected" not in ready


def test_ready_shows_the_store_error_only_to_the_admin(pg_template: str) -> None:
    with postgres_database(pg_template) as url:
        name = url.rsplit("/", 1)[1]
        settings = Settings(DATABASE_URL=url, CTSYNC_WEBHOOK_SECRET="s", CTSYNC_ADMIN_TOKEN="admin")
        with ThreadServer(create_app(settings, background_drainer=False)) as server:
            assert httpx.get(f"{server.url}/api/ready").status_code == 200
            with psycopg.connect(url.rsplit("/", 1)[0] + "/test", autocommit=True) as c:
                c.execute(f"DROP DATABASE {name} WITH (FORCE)")
            anyone = httpx.get(f"{server.url}/api/ready", timeout=10)
            admin = {"Authorization": "Bearer admin"}
            operator = httpx.get(f"{server.url}/api/ready", headers=admin, timeout=10)
            with psycopg.connect(url.rsplit("/", 1)[0] + "/test", autocommit=True) as c:
                c.execute(f"CREATE DATABASE {name}")
    assert (anyone.status_code, operator.status_code) == (503, 503)
    assert set(anyone.json()["problems"]) == {"store"}
    detail = operator.json()["problems"]["store"]
    assert "PostgreSQL" in detail
    assert detail not in anyone.text
    assert "admin token" in anyone.json()["problems"]["store"]


AUDIENCE = "https://ctsync.example/api/webhook"


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"CTSYNC_SNS_VERIFY": "true"}, "CTSYNC_SNS_TOPIC_ARN"),
        ({"CTSYNC_PUBSUB_AUDIENCE": AUDIENCE}, "CTSYNC_PUBSUB_SERVICE_ACCOUNT"),
    ],
)
def test_a_check_that_would_let_outsiders_in_stops_every_start(
    env: dict[str, str], missing: str, sqlite_url: str
) -> None:
    env = {**os.environ, **env, "DATABASE_URL": sqlite_url}
    env.pop("CTSYNC_SNS_TOPIC_ARN", None)
    env.pop("CTSYNC_PUBSUB_SERVICE_ACCOUNT", None)
    commands: dict[str, list[str]] = {
        "serve": ["-m", "ctsync", "serve", "--port", str(free_port())],
        "worker": ["-m", "ctsync", "worker"],
        "check": ["-m", "ctsync", "check"],
        "Vercel entry": ["-c", "import runpy; runpy.run_path('api/index.py')"],
    }
    for what, argv in commands.items():
        done = subprocess.run(
            [sys.executable, *argv],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode != 0, what
        assert missing in done.stderr, what


def test_dev_serve_opts_in_for_the_local_trial_and_says_so(tmp_path: Path) -> None:
    """The README's first command: a trial without secrets, and the service says what is open."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTSYNC_", "CRON_"))}
    env |= {"DATABASE_URL": f"sqlite:///{tmp_path}/trial.db", "SEGMENT_WRITE_KEY": ""}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(ROOT / "dev"), "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(url, proc, log), 120, "./dev serve")
        r = httpx.post(f"{url}/api/webhook", json=payloads.created())
        assert r.json()["status"] == "accepted"
        assert httpx.get(f"{url}/api/admin/events").json()["events"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    started = log.read_text()
    assert "CTSYNC_ALLOW_UNVERIFIED=true" in started
    assert "/api/admin" in started


def _answers(url: str, proc: subprocess.Popen[Any], log: Path) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"./dev serve exited: {log.read_text()[-2000:]}")
    try:
        return httpx.get(f"{url}/api/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
