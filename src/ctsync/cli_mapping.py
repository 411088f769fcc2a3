"""``ctsync mapping check|diff|apply``: mapping files, checked and compared before use."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

out = Console()
err = Console(stderr=True)

__all__ = ["err", "load_or_exit", "mapping_app", "out"]

mapping_app = typer.Typer(
    help="Mapping files: check, compare with what was sent, apply.", no_args_is_help=True
)


@mapping_app.command("check")
def mapping_check(
    path: Annotated[Path, typer.Argument(dir_okay=False, help="mapping file (YAML)")],
) -> None:
    """Check a mapping file: exit 0 when usable, else each problem with its key and line."""
    options = load_or_exit(path)
    traits = ", ".join(spec.name for spec in options.traits)
    out.print(f"{path}: ok (version {options.version}, identity {options.identity})")
    out.print(f"traits: {traits}", highlight=False)


@mapping_app.command("diff")
def mapping_diff(
    path: Annotated[Path, typer.Argument(dir_okay=False, help="the new mapping file")],
    last: Annotated[int | None, typer.Option(min=1, help="the last N stored events")] = None,
    since: Annotated[
        str | None, typer.Option(help="events received since: ISO 8601 time, or 30m, 24h, 7d")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Replay stored events through FILE: what each would send differently (nothing is sent)."""
    from ctsync.cli import _runtime, _settings  # noqa: PLC0415 - cli imports this module
    from ctsync.pipeline import default_planner  # noqa: PLC0415
    from ctsync.remap import diff_mapping  # noqa: PLC0415

    options = load_or_exit(path)
    after = _since(since)
    rt = _runtime(_settings())
    try:
        report = rt.store.read(
            lambda c: diff_mapping(
                c, default_planner(options), version=options.version, last=last, since=after
            )
        )
    finally:
        asyncio.run(rt.aclose())
    if as_json:
        out.print_json(json.dumps(report.to_json()))
        return
    _print_diff(report.to_json())


@mapping_app.command("apply")
def mapping_apply(
    path: Annotated[Path, typer.Argument(dir_okay=False, help="the new mapping file")],
    resend_changed: Annotated[
        bool, typer.Option("--resend-changed", help="queue Identify calls for changed customers")
    ] = False,
) -> None:
    """Queue, for each customer whose traits differ under FILE, an Identify of the new traits.

    Then point CTSYNC_MAPPING at FILE. The Identifies go to the default destination,
    with messageIds of FILE's version (a second apply queues nothing more).
    """
    from ctsync.cli import _runtime, _settings  # noqa: PLC0415 - cli imports this module
    from ctsync.pipeline import default_planner  # noqa: PLC0415
    from ctsync.remap import resend_changed as resend  # noqa: PLC0415

    new = load_or_exit(path)
    if not resend_changed:
        err.print("nothing to do: add --resend-changed to queue the changed customers' Identify")
        raise typer.Exit(2)
    settings = _settings()
    old = load_or_exit(settings.mapping_path)
    rt = _runtime(settings)
    now, horizon = time.time(), settings.retry_horizon_s
    try:
        queued = rt.store.write(
            lambda c: resend(c, default_planner(new), old, new, now=now, horizon_s=horizon)
        )
    finally:
        asyncio.run(rt.aclose())
    out.print(f"queued {len(queued)} Identify call(s) of mapping {new.version}", highlight=False)


def _since(value: str | None) -> float | None:
    """Seconds since the epoch from an ISO 8601 time or a span back from now (30m, 24h, 7d)."""
    if value is None:
        return None
    units = {"m": 60, "h": 3600, "d": 86400}
    if value[:-1].isdigit() and value[-1:] in units:
        return time.time() - int(value[:-1]) * units[value[-1]]
    from datetime import UTC, datetime  # noqa: PLC0415

    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        err.print(f"--since: {value!r} is neither an ISO 8601 time nor a span like 24h")
        raise typer.Exit(2) from exc
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _print_diff(report: dict[str, Any]) -> None:
    out.print(
        f"mapping {report['mapping']}: {report['replayed']} event(s) replayed, "
        f"{report['unchanged']} unchanged, {len(report['changed'])} would change, "
        f"{len(report['skipped'])} skipped",
        highlight=False,
    )
    for item in report["changed"]:
        status = item["status"]
        moved = (
            "" if status["was"] == status["would"] else f" ({status['was']} -> {status['would']})"
        )
        out.print(f"\nevent {item['eventId']} {item['type']} {item['resourceId']}{moved}")
        for call in item["calls"]:
            out.print(f"  {call['call']}: {call['change']}", highlight=False)
            for key in ("traits", "properties"):
                for what, values in call.get(key, {}).items():
                    out.print(f"    {key} {what}: {json.dumps(values)}", highlight=False)
            for key in ("userId", "anonymousId", "previousId", "event"):
                if key in call:
                    out.print(f"    {key}: {json.dumps(call[key])}", highlight=False)


def load_or_exit(path: Path | None) -> Any:
    """The MappingOptions of ``path`` (None: the built-in mapping); exit 2 when invalid."""
    from ctsync.mapping.file import MappingFileError, load_mapping  # noqa: PLC0415

    try:
        return load_mapping(path)
    except MappingFileError as exc:
        err.print(str(exc), highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
