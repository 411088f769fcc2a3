"""`ctsync subscription` and the watchdog against the emulator."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ctsync import metrics
from ctsync.commercetools._subscriptions import destination_draft
from ctsync.config import Settings
from ctsync.errors import InputError
from ctsync.ingress import parse_ct_payload
from ctsync.service import Runtime
from ctsync.sinks import CaptureSink
from ctsync.web import create_app
from tests import payloads
from tests.ctmock import CtMock
from tests.helpers import ROOT, ThreadServer, wait_for


@pytest.fixture(scope="module")
def ctmock() -> Iterator[CtMock]:
    with CtMock.started() as mock:
        yield mock


def _ctsync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ctsync", *args],
        env={**os.environ, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def _env(mock: CtMock, tmp_path: Path) -> dict[str, str]:
    return {**mock.env(), "DATABASE_URL": f"sqlite:///{tmp_path}/ctsync.db"}


@pytest.mark.parametrize(
    ("destination", "args", "settings"),
    [
        ("SNS", ["--topic-arn", "arn:aws:sns:eu-west-1:123:ct"], ["CTSYNC_SNS_VERIFY=true"]),
        ("GoogleCloudPubSub", ["--project-id", "gp", "--topic", "t"], ["CTSYNC_PUBSUB_AUDIENCE="]),
        ("AzureServiceBus", ["--connection-string", "Endpoint=sb://x/;Key=s3cr3t"], []),
    ],
)
def test_create_list_and_check(
    ctmock: CtMock, tmp_path: Path, destination: str, args: list[str], settings: list[str]
) -> None:
    ctmock.new_project()
    env = _env(ctmock, tmp_path)
    created = _ctsync(env, "subscription", "create", "--destination", destination, *args)
    assert created.returncode == 0, created.stderr
    assert "s3cr3t" not in created.stdout  # destination secrets are masked
    for setting in [*settings, "CTSYNC_"]:
        assert setting in created.stdout
    body = json.loads(created.stdout[: created.stdout.index("\n}\n") + 2])
    assert body["key"] == "ctsync"
    assert body["changes"] == [{"resourceTypeId": "customer"}]
    assert {m["resourceTypeId"] for m in body["messages"]} == {"customer", "order"}

    listed = _ctsync(env, "subscription", "list")
    assert "ctsync" in listed.stdout
    assert "Healthy" in listed.stdout
    checked = _ctsync(env, "subscription", "check")
    assert checked.returncode == 0
    assert "Healthy" in checked.stdout


def test_cloudevents_format_and_missing_destination_fields(ctmock: CtMock, tmp_path: Path) -> None:
    ctmock.new_project()
    env = _env(ctmock, tmp_path)
    args = ["--destination", "EventBridge", "--region", "eu-west-1", "--account-id", "123"]
    created = _ctsync(env, "subscription", "create", *args, "--format", "cloudevents")
    assert created.returncode == 0, created.stderr
    assert '"CloudEvents"' in created.stdout
    assert "CTSYNC_WEBHOOK_SECRET=" in created.stdout
    missing = _ctsync(env, "subscription", "create", "--destination", "SQS")
    assert missing.returncode == 2
    assert "--queue-url, --region" in missing.stderr
    with pytest.raises(InputError, match="--access-secret together"):
        destination_draft("SQS", {"queueUrl": "https://q", "region": "r", "accessKey": "k"})


def test_an_unhealthy_subscription_fails_the_check_and_offers_the_backfill(
    ctmock: CtMock, tmp_path: Path
) -> None:
    ctmock.new_project()
    env = _env(ctmock, tmp_path)
    assert _ctsync(env, "subscription", "check").returncode == 1  # none created yet
    args = ["--destination", "GoogleCloudPubSub", "--project-id", "gp", "--topic", "t"]
    assert _ctsync(env, "subscription", "create", *args).returncode == 0
    ctmock.set_subscription_status("ctsync", "ConfigurationErrorDeliveryStopped")
    asyncio.run(_record_one(Settings(**env)))  # type: ignore[arg-type]

    checked = _ctsync(env, "check")
    assert checked.returncode == 1
    assert "ConfigurationErrorDeliveryStopped" in checked.stdout
    assert "ctsync backfill customers --since 20" in checked.stdout
    assert "subscription_unhealthy" in checked.stderr  # the error log line


async def _record_one(settings: Settings) -> None:
    rt = Runtime.open(settings, sink=CaptureSink())
    try:
        await rt.record(parse_ct_payload(payloads.created("c-seen")))
    finally:
        await rt.aclose()


def _metric(key: str, status: str) -> float | None:
    return metrics.registry().get_sample_value(
        "ctsync_subscription_status", {"key": key, "status": status}
    )


def test_the_watchdog_reports_in_readiness_and_metrics(ctmock: CtMock, tmp_path: Path) -> None:
    ctmock.new_project()
    env = _env(ctmock, tmp_path)
    args = ["--destination", "SNS", "--topic-arn", "arn:aws:sns:eu-west-1:1:t", "--key", "wd"]
    assert _ctsync(env, "subscription", "create", *args).returncode == 0
    settings = Settings(  # type: ignore[call-arg]
        **env, CTSYNC_SUBSCRIPTION_KEY="wd", CTSYNC_WATCHDOG_INTERVAL_S="0.2"
    )

    def ready() -> dict[str, object]:
        body: dict[str, object] = httpx.get(f"{server.url}/api/ready").json()
        return body

    with ThreadServer(create_app(settings)) as server:
        wait_for(lambda: "subscription" in ready(), 20, "the watchdog's first reading")
        assert "notes" not in ready()
        assert _metric("wd", "Healthy") == 1
        ctmock.set_subscription_status("wd", "ManuallySuspended")
        body = wait_for(lambda: next((b for b in [ready()] if "notes" in b), None), 20, "a note")
        assert "ManuallySuspended" in json.dumps(body["notes"])
        assert _metric("wd", "ManuallySuspended") == 1
        assert _metric("wd", "Healthy") == 0


def test_recovery_backfills_the_gap_when_configured(ctmock: CtMock, tmp_path: Path) -> None:
    ctmock.new_project()
    env = _env(ctmock, tmp_path)
    args = ["--destination", "SNS", "--topic-arn", "arn:aws:sns:eu-west-1:1:t"]
    assert _ctsync(env, "subscription", "create", *args).returncode == 0
    settings = Settings(**env, CTSYNC_WATCHDOG_BACKFILL="true")  # type: ignore[call-arg]
    ctmock.seed(7)  # changed while nothing was delivered

    async def go() -> int:
        rt = Runtime.open(settings, sink=CaptureSink())
        try:
            assert rt.watchdog is not None
            await rt.record(parse_ct_payload(payloads.created("c-seen")))
            ctmock.set_subscription_status("ctsync", "TemporaryError")
            assert not (await rt.watchdog.check()).healthy
            ctmock.set_subscription_status("ctsync", "Healthy")
            assert (await rt.watchdog.check()).healthy
            task = rt._gap_backfill  # the backfill the recovery started
            assert task is not None
            progress = await task
            assert progress.staged == 7  # read and stored; the delivery side queues them
            queued = await rt.queue_staged()
            assert queued is not None
            return int(queued["queued"])
        finally:
            await rt.aclose()

    assert asyncio.run(go()) == 7
