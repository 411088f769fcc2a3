"""The ``ctsync`` command: thin wrappers over the same service functions the app uses."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from ctsync._cli_subscription import subscription_app
from ctsync.config import Settings
from ctsync.errors import ConfigError, CtsyncError
from ctsync.logs import configure_logging

app = typer.Typer(
    help="Keep Segment in step with commercetools: durably, replayably.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(subscription_app, name="subscription")
out = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    configure_logging(settings.log_level)
    if settings.sentry_dsn is not None:
        from ctsync._sentry import init_sentry  # noqa: PLC0415

        init_sentry(settings)
    return settings


def _runtime(settings: Settings) -> Any:
    from ctsync.service import Runtime  # noqa: PLC0415 - keeps `--help` fast

    try:
        return Runtime.open(settings)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except CtsyncError as exc:
        err.print(f"[red]store error:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Run the webhook, admin API and an in-process drainer."""
    import uvicorn  # noqa: PLC0415

    from ctsync.web import create_app  # noqa: PLC0415

    settings = _settings()
    application = create_app(settings, freeze_heap=True)
    mode = (
        "capture mode (no SEGMENT_WRITE_KEY: messages are kept, not sent)"
        if settings.capture_mode
        else f"sending to {settings.segment_endpoint}"
    )
    err.print(f"ctsync {mode}; store {settings.store_kind}")
    _print_protection(settings)
    uvicorn.run(
        application, host=host, port=port, log_level="warning", timeout_graceful_shutdown=15
    )


def _print_protection(settings: Settings) -> None:
    """Say what anyone who reaches the service may use, or that deliveries are refused."""
    from ctsync.ingress import UNVERIFIED_HINT  # noqa: PLC0415

    if settings.unprotected:
        err.print(
            "[yellow]CTSYNC_ALLOW_UNVERIFIED=true: open to anyone who reaches this service "
            "(fine for a local trial, not beyond):[/yellow]",
            *(f"{route}: {why}" for route, why in settings.unprotected.items()),
            sep="\n  ",
            highlight=False,
            soft_wrap=True,
        )
    elif not settings.sender_check_configured:
        err.print(f"[yellow]{UNVERIFIED_HINT}[/yellow]", highlight=False, soft_wrap=True)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Parallel drain loops")] = 1,
) -> None:
    """Deliver the outbox continuously (beside any number of servers and workers)."""
    settings = _settings()
    rt = _runtime(settings)
    from ctsync.service import freeze_startup_heap  # noqa: PLC0415

    freeze_startup_heap()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        from ctsync.delivery import Drainer, drainer_config  # noqa: PLC0415

        drainers = [rt.drainer] + [
            Drainer(rt.store, rt.sink, drainer_config(settings)) for _ in range(concurrency - 1)
        ]
        err.print(f"worker: {concurrency} loop(s), sink {rt.sink.name}")
        idle = settings.drain_interval_s
        await asyncio.gather(rt.background(stop), *(d.run(stop, idle_s=idle) for d in drainers))
        await rt.aclose()

    asyncio.run(main())


@app.command()
def drain(
    budget: Annotated[float | None, typer.Option(help="Stop after this many seconds")] = None,
) -> None:
    """Deliver what is due now, then exit 0 (non-zero only on a config or store error)."""

    settings = _settings()
    rt = _runtime(settings)

    async def main() -> dict[str, Any]:
        try:
            found: dict[str, Any] = await rt.drain_due(budget_s=budget)
        finally:
            await rt.aclose()
        return found

    out.print_json(json.dumps(asyncio.run(main())))


@app.command()
def events(
    customer: Annotated[str | None, typer.Option(help="commercetools customer id")] = None,
    email: Annotated[str | None, typer.Option(help="customer email")] = None,
    status: Annotated[str | None, typer.Option(help="only events with this status")] = None,
    event_id: Annotated[int | None, typer.Option("--id", help="one event in full")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """Events with their messages and every delivery attempt."""
    from ctsync.mapping import normalize_email  # noqa: PLC0415
    from ctsync.store._browse import timeline  # noqa: PLC0415
    from ctsync.store._ops import event_detail, list_events  # noqa: PLC0415

    rt = _runtime(_settings())
    user_id = normalize_email(email) if email else None

    def load(c: Any) -> list[dict[str, Any]]:
        if event_id is not None:
            one = timeline(c, event_id)
            return [one] if one else []
        rows = list_events(c, status=status, resource_id=customer, user_id=user_id, limit=limit)
        return [d for r in rows if (d := event_detail(c, r["id"])) is not None]

    found = rt.store.read(load)
    rt.store.close()
    if as_json:
        out.print_json(json.dumps(found, default=str))
        return
    _print_events(found)


def _print_events(found: list[dict[str, Any]]) -> None:
    if not found:
        out.print("no events")
        return
    for ev in found:
        received = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ev["received_at"]))
        out.print(
            f"[bold]#{ev['id']}[/bold] {received} {ev['type']} {ev['resource_type']} "
            f"{ev['resource_id']} v{ev['resource_version']} [cyan]{ev['status']}[/cyan]"
            + (f" ({ev['reason']})" if ev["reason"] else "")
        )
        if "timeline" in ev:
            from ctsync._replay_cli import print_timeline  # noqa: PLC0415

            print_timeline(out, ev["timeline"])
            continue
        for m in ev["messages"]:
            out.print(
                f"   {m['type']:<8} {m['message_id']} [cyan]{m['status']}[/cyan] "
                f"attempts={m['attempts']}"
                + (f" error={m['last_error']}" if m["last_error"] else "")
            )
            out.print(
                "     " + json.dumps(m["body"], ensure_ascii=False), highlight=False, soft_wrap=True
            )
            for a in m["attempts_log"]:
                out.print(
                    f"     attempt {a['outcome']} status={a['status_code']} "
                    f"latency={a['latency_ms'] or 0:.0f}ms {a['detail'] or ''}",
                    highlight=False,
                )


@app.command()
def dlq(limit: Annotated[int, typer.Option(min=1)] = 50) -> None:
    """The dead-letter queue: messages that could not be delivered, with the reason."""
    from ctsync.store._ops import list_messages  # noqa: PLC0415

    rt = _runtime(_settings())
    rows = rt.store.read(lambda c: list_messages(c, status="dead", limit=limit))
    rt.store.close()
    table = Table("id", "type", "messageId", "attempts", "reason")
    for r in rows:
        table.add_row(
            str(r["id"]), r["type"], r["message_id"], str(r["attempts"]), r["last_error"] or ""
        )
    out.print(table if rows else "the dead-letter queue is empty")


_TIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
_Time = Annotated[
    datetime | None, typer.Option(formats=_TIME_FORMATS, help="UTC, e.g. 2026-11-30T14:00")
]


@app.command()
def replay(
    ids: Annotated[list[int] | None, typer.Argument(help="outbox ids (see `ctsync dlq`)")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="every dead letter")] = False,
    customer: Annotated[str | None, typer.Option(help="commercetools customer id")] = None,
    email: Annotated[str | None, typer.Option(help="the customer's email")] = None,
    since: _Time = None,
    until: _Time = None,
    status: Annotated[
        str | None, typer.Option(help="delivered, captured, dead or discarded (default: all)")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only count what would go")] = False,
    new_ids: Annotated[bool, typer.Option("--new-ids", help="new messageIds")] = False,
) -> None:
    """Put messages back in the outbox: dead letters by id, or anything by filter.

    Messages keep their original messageId unless --new-ids; attempts start again at 0.
    """
    if customer or email or since or until or status:
        from ctsync._replay_cli import filter_of, replay_by_filter  # noqa: PLC0415

        f = filter_of(customer, email, since, until, status)
        rt = _runtime(_settings())
        replay_by_filter(rt, f, dry_run=dry_run, new_ids=new_ids, out=out, err=err)
        return
    from ctsync.store._ops import replay as replay_rows  # noqa: PLC0415

    if not ids and not replay_all:
        err.print("name outbox ids, --all, or a filter (--customer, --email, --since, ...)")
        raise typer.Exit(2)
    settings = _settings()
    rt = _runtime(settings)
    now = time.time()
    n = rt.store.write(
        lambda c: replay_rows(
            c, ids=None if replay_all else ids, now=now, horizon_s=settings.retry_horizon_s
        )
    )
    rt.store.close()
    out.print(f"replayed {n} message(s)")


@app.command()
def transform(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="payload file")],
    mapping: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="mapping file (default: CTSYNC_MAPPING)"),
    ] = None,
) -> None:
    """Dry run of the mapping: a delivery file in, the Segment messages out (nothing stored)."""
    from ctsync.cli_mapping import load_or_exit  # noqa: PLC0415
    from ctsync.ingress import decode_json  # noqa: PLC0415
    from ctsync.pipeline import default_planner, dry_run  # noqa: PLC0415

    options = load_or_exit(mapping or _settings().mapping_path)
    try:
        results = dry_run(decode_json(path.read_bytes()), default_planner(options))
    except CtsyncError as exc:
        err.print(f"[red]cannot map {path}:[/red] {exc}")
        raise typer.Exit(1) from exc
    out.print_json(json.dumps(results if len(results) != 1 else results[0]))


@app.command()
def regulations() -> None:
    """Segment deletion regulations requested for deleted customers, with their status."""
    settings = _settings()
    rt = _runtime(settings)
    try:
        rows = rt.store.read(lambda c: c.all("list_regulations", limit=200))
    finally:
        asyncio.run(rt.aclose())
    state = (
        "on"
        if settings.regulations_enabled
        else "off (set SEGMENT_PUBLIC_API_TOKEN and SEGMENT_WORKSPACE)"
    )
    out.print(f"regulations: {state}", highlight=False)
    table = Table("id", "customer", "type", "regulateId", "status", "detail")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["customer_id"],
            r["regulation_type"],
            r["regulate_id"] or "",
            r["status"],
            r["detail"] or "",
        )
    out.print(table)


@app.command("send-sample")
def send_sample(
    url: Annotated[str, typer.Option(help="webhook URL")] = "http://127.0.0.1:8000/api/webhook",
    directory: Annotated[Path, typer.Option("--dir", help="folder of example deliveries")] = (
        Path("examples")
    ),
    secret: Annotated[
        str | None,
        typer.Option(envvar="CTSYNC_WEBHOOK_SECRET", help="shared secret, sent as Bearer"),
    ] = None,
) -> None:
    """POST the example deliveries to a running endpoint and show each answer."""
    import httpx  # noqa: PLC0415

    files = sorted(directory.glob("*.json"))
    if not files:
        err.print(f"no *.json files in {directory}")
        raise typer.Exit(1)
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    failures = 0
    with httpx.Client(timeout=10) as client:
        for f in files:
            try:
                r = client.post(url, content=f.read_bytes(), headers=headers)
            except httpx.HTTPError as exc:
                err.print(f"[red]{f.name}: cannot reach {url}: {exc}[/red]")
                raise typer.Exit(1) from exc
            failures += r.status_code >= 300
            out.print(f"{f.name}: {r.status_code} {r.text}", highlight=False)
    raise typer.Exit(1 if failures else 0)


class BackfillResource(StrEnum):
    """What ``ctsync backfill`` can read."""

    customers = "customers"
    orders = "orders"


@app.command()
def backfill(
    resource: Annotated[BackfillResource, typer.Argument(help="customers or orders")],
    since: Annotated[
        str | None,
        typer.Option(help="only those modified at or after this time (ISO 8601, UTC if no zone)"),
    ] = None,
    where: Annotated[
        list[str] | None, typer.Option(help="a commercetools query predicate (repeatable)")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="map and count, store and send nothing")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="stop after this many")] = None,
    restart: Annotated[bool, typer.Option(help="start over instead of resuming")] = False,
    wait: Annotated[
        bool, typer.Option(help="queue what was read here too, and return once all is queued")
    ] = False,
    streams: Annotated[
        int, typer.Option(help="id ranges read at once: 1, 2, 4, 8 or 16 (1 with --limit)")
    ] = 4,
) -> None:
    """Send what commercetools already holds to Segment, as full snapshots (resumable).

    The pages read are stored with the cursor; the delivery side (`serve`, `worker`,
    the cron drain or `drain`) queues their snapshots and delivers them. With
    --wait, this command queues them itself before returning.
    """
    from ctsync._cli_commercetools import backfill_command  # noqa: PLC0415
    from ctsync.backfill import BackfillOptions  # noqa: PLC0415

    settings = _settings()
    options = BackfillOptions(
        resource=resource.value,
        since=_moment(since) if since else None,
        where=tuple(where or ()),
        limit=limit,
        dry_run=dry_run,
        restart=restart,
        wait=wait,
        streams=streams,
    )
    result = backfill_command(settings, _runtime(settings), options, out=out, err=err)
    raise typer.Exit(0 if result.status in {"done", "partial"} else 1)


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        msg = f"{text!r} is not an ISO 8601 time (e.g. 2026-01-31T12:00:00Z)"
        raise typer.BadParameter(msg, param_hint="--since") from exc


@app.command()
def check(
    url: Annotated[
        str | None,
        typer.Option(help="a deployment's base URL: check it end to end from here instead"),
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(envvar="CTSYNC_WEBHOOK_SECRET", help="its shared secret (with --url)"),
    ] = None,
    admin_token: Annotated[
        str | None,
        typer.Option(envvar="CTSYNC_ADMIN_TOKEN", help="its admin token (with --url)"),
    ] = None,
) -> None:
    """Check the configuration, the store, the sink, the subscription (or a deployment: --url)."""
    if url is not None:
        _check_remote(url, secret, admin_token)
        return
    settings = _settings()
    rt = _runtime(settings)
    out.print(f"store: {rt.store.url_for_display} ({rt.store.dialect}) ok")
    _print_protection(settings)

    async def probe() -> tuple[str | None, bool]:
        from ctsync._cli_commercetools import subscription_check  # noqa: PLC0415

        try:
            try:
                await rt.sink.probe()
            except CtsyncError as exc:
                problem: str | None = str(exc)
            else:
                problem = None
            return problem, await subscription_check(rt, out=out)
        finally:
            await rt.aclose()

    problem, subscription_ok = asyncio.run(probe())
    sink = (
        "capture mode (no SEGMENT_WRITE_KEY)"
        if settings.capture_mode
        else settings.segment_endpoint
    )
    out.print(f"sink: {sink} " + ("ok" if problem is None else f"[red]{problem}[/red]"))
    if problem or not subscription_ok:
        raise typer.Exit(1)


def _check_remote(url: str, secret: str | None, admin_token: str | None) -> None:
    from rich.markup import escape  # noqa: PLC0415

    from ctsync._remote_check import check_deployment  # noqa: PLC0415

    steps = check_deployment(url, secret=secret, admin_token=admin_token)
    for step in steps:
        mark = "[green]ok[/green]" if step.ok else "[red]FAILED[/red]"
        out.print(f"{step.name}: {mark} {escape(step.detail)}", highlight=False)
    if not all(s.ok for s in steps) or len(steps) < 4:
        raise typer.Exit(1)
    out.print(f"{url}: deployment works end to end")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (serve, worker and drain also do it on start)."""
    rt = _runtime(_settings())
    rt.store.close()
    out.print("database is up to date")


def _add_mapping_commands() -> None:
    from ctsync.cli_mapping import mapping_app  # noqa: PLC0415 - it imports this module's helpers

    app.add_typer(mapping_app, name="mapping")


_add_mapping_commands()


def main() -> None:
    """Entry point of the ``ctsync`` script."""
    try:
        app()
    except CtsyncError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
