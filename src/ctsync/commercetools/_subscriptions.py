"""commercetools Subscriptions for ctsync: the draft to create, and what ctsync must be told.

One subscription carries customer messages and changes (and order messages):
messages say what changed, and change notifications cover the customer updates
that produce no message (ctsync reads those, and skips a change its messages
already carried). Each destination has its own fields (CT API, Subscription
destinations); what reaches ctsync's webhook from it, and the sender check
that proves it, is printed by ``sender_settings``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ctsync.errors import InputError

__all__ = [
    "DESTINATIONS",
    "HEALTH_STATUSES",
    "SubscriptionPlan",
    "destination_draft",
    "sender_settings",
    "subscription_draft",
]

Format = Literal["platform", "cloudevents"]
HEALTH_STATUSES = (
    "Healthy",
    "ConfigurationError",
    "ConfigurationErrorDeliveryStopped",
    "ManuallySuspended",
    "TemporaryError",
)


@dataclass(frozen=True, slots=True)
class _Destination:
    type: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()


# The option names are the commercetools field names (camelCase), as `--topic-arn` etc.
DESTINATIONS: Mapping[str, _Destination] = {
    "GoogleCloudPubSub": _Destination("GoogleCloudPubSub", ("projectId", "topic")),
    "SNS": _Destination("SNS", ("topicArn",), ("accessKey", "accessSecret")),
    "SQS": _Destination("SQS", ("queueUrl", "region"), ("accessKey", "accessSecret")),
    "EventBridge": _Destination("EventBridge", ("region", "accountId")),
    "AzureEventGrid": _Destination("EventGrid", ("uri", "accessKey")),
    "AzureServiceBus": _Destination("AzureServiceBus", ("connectionString",)),
    "ConfluentCloud": _Destination(
        "ConfluentCloud", ("bootstrapServer", "apiKey", "apiSecret", "topic"), ("acks", "key")
    ),
}


def destination_draft(kind: str, params: Mapping[str, str | None]) -> dict[str, Any]:
    """The destination object for ``kind``; InputError naming what is missing or unknown."""
    spec = DESTINATIONS.get(kind)
    if spec is None:
        msg = f"unknown destination {kind!r}: one of {', '.join(DESTINATIONS)}"
        raise InputError(msg)
    given = {k: v for k, v in params.items() if v}
    missing = [k for k in spec.required if k not in given]
    if missing:
        msg = f"the {kind} destination needs {', '.join('--' + _kebab(k) for k in missing)}"
        raise InputError(msg)
    extra = sorted(set(given) - set(spec.required) - set(spec.optional))
    if extra:
        msg = f"the {kind} destination takes no {', '.join('--' + _kebab(k) for k in extra)}"
        raise InputError(msg)
    draft: dict[str, Any] = {"type": spec.type, **given}
    if kind in {"SNS", "SQS"}:
        keys = "accessKey" in given and "accessSecret" in given
        if ("accessKey" in given) != ("accessSecret" in given):
            msg = f"the {kind} destination takes --access-key and --access-secret together"
            raise InputError(msg)
        draft["authenticationMode"] = "Credentials" if keys else "IAM"
    if kind == "ConfluentCloud":
        draft.setdefault("acks", "all")
    return draft


def subscription_draft(
    key: str, destination: dict[str, Any], *, orders: bool = True, fmt: Format = "platform"
) -> dict[str, Any]:
    """Customer messages and changes (and order messages) to ``destination``."""
    messages: list[dict[str, Any]] = [{"resourceTypeId": "customer"}]
    if orders:
        messages.append({"resourceTypeId": "order", "types": ["OrderCreated"]})
    return {
        "key": key,
        "destination": destination,
        "messages": messages,
        "changes": [{"resourceTypeId": "customer"}],
        "format": (
            {"type": "CloudEvents", "cloudEventsVersion": "1.0"}
            if fmt == "cloudevents"
            else {"type": "Platform"}
        ),
    }


@dataclass(frozen=True, slots=True)
class SubscriptionPlan:
    """How deliveries get from the destination to ctsync, and how ctsync checks them."""

    route: str
    settings: dict[str, str]


def sender_settings(destination: Mapping[str, Any], webhook_url: str) -> SubscriptionPlan:
    """The relay from ``destination`` to ``webhook_url`` and ctsync's matching sender check."""
    kind = destination.get("type")
    if kind == "GoogleCloudPubSub":
        return SubscriptionPlan(
            f"create a push subscription on topic {destination.get('topic')} (project "
            f"{destination.get('projectId')}) to {webhook_url}, with authentication on "
            "(a service account of yours)",
            {
                "CTSYNC_PUBSUB_AUDIENCE": webhook_url,
                "CTSYNC_PUBSUB_SERVICE_ACCOUNT": "<the push subscription's service account email>",
            },
        )
    if kind == "SNS":
        return SubscriptionPlan(
            f"subscribe {webhook_url} (protocol https) to {destination.get('topicArn')}; "
            "ctsync confirms the subscription itself",
            {"CTSYNC_SNS_VERIFY": "true", "CTSYNC_SNS_TOPIC_ARN": str(destination.get("topicArn"))},
        )
    routes = {
        "SQS": "a consumer of the queue (a Lambda, EventBridge Pipes) POSTs each message to",
        "EventBridge": "an EventBridge rule with an API destination POSTs each event to",
        "EventGrid": "an Event Grid subscription (webhook, CloudEvents schema) POSTs to",
        "AzureServiceBus": "a Service Bus consumer (a Function, a Logic App) POSTs each message to",
        "ConfluentCloud": "an HTTP Sink connector on the topic POSTs each record to",
    }
    relay = routes.get(str(kind), "a relay POSTs each delivery to")
    secret = secrets.token_urlsafe(24)
    return SubscriptionPlan(
        f"{relay} {webhook_url} with the header 'Authorization: Bearer <CTSYNC_WEBHOOK_SECRET>'",
        {"CTSYNC_WEBHOOK_SECRET": secret},
    )


def _kebab(name: str) -> str:
    return "".join("-" + c.lower() if c.isupper() else c for c in name)
