"""The ``ctsync`` command: thin wrappers over the same service functions the app uses."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from ctsync.config import Settings, is_loopback_host
from ctsync.errors import CtsyncError
from ctsync.logs import configure_logging

app = typer.Typer(
    help="Keep Segment in step with commercetools: durably, replayably.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
out = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    configure_logging(settings.log_level)
    return settings


def _runtime(settings: Settings) -> Any:
    from ctsync.service import Runtime  # noqa: PLC0415 - keeps `--help` fast

    try:
        return Runtime.open(settings)
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
    application = create_app(settings, exposed=not is_loopback_host(host), freeze_heap=True)
    mode = (
        "capture mode (no SEGMENT_WRITE_KEY: messages are kept, not sent)"
        if settings.capture_mode
        else f"sending to {settings.segment_endpoint}"
    )
    err.print(f"ctsync {mode}; store {settings.store_kind}")
    uvicorn.run(
        application, host=host, port=port, log_level="warning", timeout_graceful_shutdown=15
    )


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
        await asyncio.gather(rt.maintain(stop), *(d.run(stop, idle_s=idle) for d in drainers))
        await rt.aclose()

    asyncio.run(main())


@app.command()
def drain(
    budget: Annotated[float | None, typer.Option(help="Stop after this many seconds")] = None,
) -> None:
    """Deliver what is due now, then exit 0 (non-zero only on a config or store error)."""
    from ctsync.delivery import DrainReport  # noqa: PLC0415

    settings = _settings()
    rt = _runtime(settings)

    async def main() -> dict[str, Any]:
        try:
            report: DrainReport = await rt.drainer.drain(budget_s=budget)
        finally:
            await rt.aclose()
        return report.to_json()

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
    from ctsync.store._ops import event_detail, list_events  # noqa: PLC0415

    rt = _runtime(_settings())
    user_id = normalize_email(email) if email else None

    def load(c: Any) -> list[dict[str, Any]]:
        if event_id is not None:
            one = event_detail(c, event_id)
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


@app.command()
def replay(
    ids: Annotated[list[int] | None, typer.Argument(help="outbox ids (see `ctsync dlq`)")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="every dead letter")] = False,
) -> None:
    """Put dead letters back in the outbox; they are delivered with their original messageId."""
    from ctsync.store._ops import replay as replay_rows  # noqa: PLC0415

    if not ids and not replay_all:
        err.print("name outbox ids, or --all")
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


@app.command()
def check() -> None:
    """Check the configuration, the store and the sink endpoint."""
    settings = _settings()
    rt = _runtime(settings)
    out.print(f"store: {rt.store.url_for_display} ({rt.store.dialect}) ok")

    async def probe() -> str | None:
        try:
            await rt.sink.probe()
        except CtsyncError as exc:
            return str(exc)
        finally:
            await rt.aclose()
        return None

    problem = asyncio.run(probe())
    sink = (
        "capture mode (no SEGMENT_WRITE_KEY)"
        if settings.capture_mode
        else settings.segment_endpoint
    )
    out.print(f"sink: {sink} " + ("ok" if problem is None else f"[red]{problem}[/red]"))
    if problem:
        raise typer.Exit(1)


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
