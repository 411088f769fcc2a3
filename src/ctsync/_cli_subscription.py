"""``ctsync subscription create|list|check``: the Subscription that delivers to ctsync.

Thin, as the rest of the CLI: options in, ``_cli_commercetools`` does the work.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Annotated

import typer

from ctsync.errors import CtsyncError

__all__ = ["subscription_app"]

subscription_app = typer.Typer(
    help="The commercetools Subscription that delivers to ctsync.", no_args_is_help=True
)


class Destination(StrEnum):
    """The destinations commercetools Subscriptions support."""

    GoogleCloudPubSub = "GoogleCloudPubSub"
    SNS = "SNS"
    SQS = "SQS"
    EventBridge = "EventBridge"
    AzureEventGrid = "AzureEventGrid"
    AzureServiceBus = "AzureServiceBus"
    ConfluentCloud = "ConfluentCloud"


class Format(StrEnum):
    """The payload formats a Subscription delivers in."""

    platform = "platform"
    cloudevents = "cloudevents"


Opt = Annotated[str | None, typer.Option()]


@subscription_app.command("create")
def subscription_create(
    destination: Annotated[Destination, typer.Option(help="where commercetools delivers")],
    key: Annotated[str | None, typer.Option(help="default: CTSYNC_SUBSCRIPTION_KEY")] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.platform,
    orders: Annotated[bool, typer.Option(help="also OrderCreated messages")] = True,
    webhook_url: Annotated[
        str, typer.Option(help="ctsync's public webhook URL (for the printed settings)")
    ] = "https://<your ctsync host>/api/webhook",
    project_id: Opt = None,
    topic: Opt = None,
    topic_arn: Opt = None,
    queue_url: Opt = None,
    region: Opt = None,
    account_id: Opt = None,
    uri: Opt = None,
    access_key: Opt = None,
    access_secret: Opt = None,
    connection_string: Opt = None,
    bootstrap_server: Opt = None,
    api_key: Opt = None,
    api_secret: Opt = None,
    acks: Opt = None,
    record_key: Annotated[str | None, typer.Option(help="ConfluentCloud: record key")] = None,
) -> None:
    """Create the Subscription: customer messages and changes (and orders) to a destination."""
    from ctsync import cli  # noqa: PLC0415 - the CLI's settings and consoles
    from ctsync._cli_commercetools import subscription_create as create  # noqa: PLC0415
    from ctsync.commercetools._subscriptions import (  # noqa: PLC0415
        destination_draft,
        subscription_draft,
    )

    settings = cli._settings()  # noqa: SLF001 - the CLI's own helper
    params = {
        "projectId": project_id,
        "topic": topic,
        "topicArn": topic_arn,
        "queueUrl": queue_url,
        "region": region,
        "accountId": account_id,
        "uri": uri,
        "accessKey": access_key,
        "accessSecret": access_secret,
        "connectionString": connection_string,
        "bootstrapServer": bootstrap_server,
        "apiKey": api_key,
        "apiSecret": api_secret,
        "acks": acks,
        "key": record_key,
    }
    try:
        target = destination_draft(destination.value, params)
    except CtsyncError as exc:
        cli.err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    draft = subscription_draft(
        key or settings.subscription_key,
        target,
        orders=orders,
        fmt="cloudevents" if fmt is Format.cloudevents else "platform",
    )
    create(settings, draft, webhook_url=webhook_url, out=cli.out)


@subscription_app.command("list")
def subscription_list() -> None:
    """The project's Subscriptions with their destination and status."""
    from ctsync import cli  # noqa: PLC0415
    from ctsync._cli_commercetools import subscription_list as show  # noqa: PLC0415

    show(cli._settings(), out=cli.out)  # noqa: SLF001 - the CLI's own helper


@subscription_app.command("check")
def subscription_check() -> None:
    """The watched Subscription's status (CTSYNC_SUBSCRIPTION_KEY); exit 1 unless Healthy."""
    from ctsync import cli  # noqa: PLC0415
    from ctsync._cli_commercetools import subscription_check as check_one  # noqa: PLC0415

    settings = cli._settings()  # noqa: SLF001 - the CLI's own helper
    if not settings.ctp_configured:
        cli.err.print("set CTP_PROJECT_KEY, CTP_CLIENT_ID and CTP_CLIENT_SECRET (and the URLs)")
        raise typer.Exit(2)
    rt = cli._runtime(settings)  # noqa: SLF001 - the CLI's own helper

    async def main() -> bool:
        try:
            return await check_one(rt, out=cli.out)
        finally:
            await rt.aclose()

    raise typer.Exit(0 if asyncio.run(main()) else 1)
