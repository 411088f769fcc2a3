"""It deploys on Vercel: a real ``vercel build``, its Build Output checked, its function run.

The function runs frozen between invocations (tests/vercel.py) against a fresh
PostgreSQL database and the fake Segment, as a deployment would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import IN_CI
from tests.fakes.segment import FakeSegment
from tests.helpers import PG_ADMIN_URL, ROOT, postgres_database
from tests.vercel import Missing, VercelFunction, build, python312

pytestmark = [pytest.mark.vercel, pytest.mark.postgres, pytest.mark.timeout(900)]

EXAMPLES = ROOT / "examples"
SECRET = "webhook-secret-for-the-test"
CRON = "cron-secret-for-the-test"
MAX_FUNCTION_BYTES = 250 * 1000 * 1000
USER_ROUTES = (
    "/api/webhook",
    "/api/webhook/pubsub",
    "/api/health",
    "/api/ready",
    "/api/cron/drain",
    "/metrics",
    "/api/admin/events",
    "/admin",
)
_FIELD = r"(\*|\d+(-\d+)?)(/\d+)?(,(\d+(-\d+)?)(/\d+)?)*"
CRON_EXPRESSION = re.compile(rf"^{_FIELD}( {_FIELD}){{4}}$")


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Build Output of one ``vercel build --standalone`` of a copy of the project."""
    try:
        return build(tmp_path_factory.mktemp("vercel"))
    except Missing as exc:
        if IN_CI:
            pytest.fail(f"the Vercel build cannot run under CI=true: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def config(output: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((output / "config.json").read_text())
    return data


@pytest.fixture(scope="module")
def func_dir(output: Path) -> Path:
    funcs = sorted((output / "functions").rglob("*.func"))
    assert len(funcs) == 1, f"one function expected, got {funcs}"
    return funcs[0]


@pytest.fixture
def fresh_db(pg_template: str) -> Iterator[str]:
    """An empty database: the function's cold start applies the migrations."""
    del pg_template  # only for its PostgreSQL check (skip, or fail under CI)
    with postgres_database() as url:
        yield url


@pytest.fixture
def fake() -> Iterator[FakeSegment]:
    with FakeSegment() as f:
        yield f


def _start(func_dir: Path, env: dict[str, str], log_dir: Path) -> VercelFunction:
    return VercelFunction(func_dir, env, python312(), log_dir).__enter__()


def _delivery(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def test_the_function_runs_python_312_within_the_limits(func_dir: Path) -> None:
    vc = json.loads((func_dir / ".vc-config.json").read_text())
    version = re.fullmatch(r"python3\.(\d+)", vc["runtime"])
    assert version, vc["runtime"]
    assert int(version.group(1)) >= 12
    assert 0 < vc["maxDuration"] <= 300  # the Hobby plan's ceiling
    size = sum(p.stat().st_size for p in func_dir.rglob("*") if p.is_file())
    assert size < MAX_FUNCTION_BYTES, f"function is {size / 1e6:.0f} MB"
    assert not (func_dir / "_uv").exists(), "over the size limit: deps installed at cold start"


def test_the_upload_leaves_out_tests_benchmarks_and_databases(func_dir: Path) -> None:
    # The build ran on what .vercelignore lets through, so that is enough to build.
    shipped = {p.relative_to(func_dir).parts[0] for p in func_dir.iterdir()}
    assert shipped.isdisjoint({"tests", "bench", "tools", "examples", ".ci"}), shipped
    assert not [p for p in func_dir.rglob("*.db*") if "_vendor" not in p.parts]


def test_every_cron_is_daily_at_most_and_reaches_the_drain(config: dict[str, Any]) -> None:
    crons = config["crons"]
    assert [c["path"] for c in crons] == ["/api/cron/drain"]
    for cron in crons:
        assert CRON_EXPRESSION.match(cron["schedule"]), cron["schedule"]
        minute, hour = cron["schedule"].split()[:2]
        assert minute.isdigit(), "Hobby accepts at most one run a day"
        assert hour.isdigit(), "Hobby accepts at most one run a day"
        assert _function_for(config, cron["path"]) is not None


def test_user_routes_reach_the_function(
    config: dict[str, Any], output: Path, func_dir: Path
) -> None:
    name = func_dir.relative_to(output / "functions").as_posix().removesuffix(".func")
    for path in USER_ROUTES:
        assert _function_for(config, path) == name, f"{path} does not reach {name}"


def test_nothing_private_is_published_as_a_static_file(output: Path) -> None:
    static = output / "static"
    published = (
        [p.relative_to(static).as_posix() for p in static.rglob("*")] if static.exists() else []
    )
    assert published == [], f"published as static files: {published[:20]}"


def test_a_protected_deployment_delivers_and_survives_a_thaw(
    func_dir: Path, fresh_db: str, fake: FakeSegment, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": fresh_db,
        "SEGMENT_ENDPOINT": fake.url,
        "SEGMENT_WRITE_KEY": fake.write_key,
        "CTSYNC_WEBHOOK_SECRET": SECRET,
        "CRON_SECRET": CRON,
        # Room for a loaded CI machine; what is tested is that delivery happens
        # inside the invocation, not how long it may take.
        "CTSYNC_INLINE_BUDGET_S": "10",
    }
    fn = _start(func_dir, env, tmp_path)
    try:
        assert fn.invoke("GET", "/api/health").status_code == 200
        signed = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
        unsigned = fn.invoke("POST", "/api/webhook", content=_delivery("02-customer-created.json"))
        assert unsigned.status_code == 401
        created = fn.invoke(
            "POST", "/api/webhook", content=_delivery("02-customer-created.json"), headers=signed
        )
        assert created.status_code == 200, created.text
        assert created.json()["status"] == "accepted"
        # Delivered inside the invocation: the process is frozen the moment it ends.
        assert [m["userId"] for m in fake.messages] == ["anna.mueller@example.com"]

        _terminate_backends(fresh_db)  # connections die while the process is frozen
        renamed = fn.invoke(
            "POST",
            "/api/webhook",
            content=_delivery("03-customer-first-name-set.json"),
            headers=signed,
        )
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["status"] == "accepted"
        assert fake.messages[-1]["traits"]["firstName"] == "Annika"

        assert fn.invoke("GET", "/api/cron/drain").status_code == 401
        drained = fn.invoke("GET", "/api/cron/drain", headers={"Authorization": f"Bearer {CRON}"})
        assert drained.status_code == 200, drained.text
        assert drained.json()["status"] == "drained"
    finally:
        fn.__exit__(None, None, None)


def test_an_unprotected_deployment_refuses_deliveries(
    func_dir: Path, fresh_db: str, tmp_path: Path
) -> None:
    fn = _start(func_dir, {"DATABASE_URL": fresh_db}, tmp_path)
    try:
        refused = fn.invoke("POST", "/api/webhook", content=_delivery("02-customer-created.json"))
        assert refused.status_code == 401
        assert "CTSYNC_WEBHOOK_SECRET" in refused.json()["error"]
    finally:
        fn.__exit__(None, None, None)


def test_without_a_database_deliveries_get_503_naming_the_setting(
    func_dir: Path, tmp_path: Path
) -> None:
    fn = _start(func_dir, {"CTSYNC_WEBHOOK_SECRET": SECRET}, tmp_path)
    try:
        assert fn.invoke("GET", "/api/health").status_code == 200
        refused = fn.invoke(
            "POST",
            "/api/webhook",
            content=_delivery("02-customer-created.json"),
            headers={"Authorization": f"Bearer {SECRET}"},
        )
        assert refused.status_code == 503, refused.text
        assert "DATABASE_URL" in refused.json()["error"]
        assert not list(func_dir.glob("*.db")), "nothing may be stored in the function's files"
    finally:
        fn.__exit__(None, None, None)


def _terminate_backends(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
            (name,),
        ).fetchone()
    assert killed is not None
    assert killed[0] >= 1, "the function held no connection to kill"


def _function_for(config: dict[str, Any], path: str) -> str | None:
    """The function a request path reaches, following the Build Output's routes."""
    for route in config["routes"]:
        if "handle" in route or "dest" not in route or "status" in route:
            continue
        if re.match(route["src"], path):
            return str(route["dest"]).split("?", 1)[0].lstrip("/")
    return None
