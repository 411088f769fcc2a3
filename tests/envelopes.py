"""Builders of the envelopes commercetools deliveries arrive in, as each cloud sends them."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

TOPIC_ARN = "arn:aws:sns:eu-central-1:123456789012:ctsync"


def _id() -> str:
    return str(uuid.uuid4())


def _resource(payload: dict[str, Any]) -> dict[str, Any]:
    resource = payload.get("resource")
    return resource if isinstance(resource, dict) else {}


def pubsub(
    payload: Any, *, message_id: str | None = None, raw: bytes | None = None
) -> dict[str, Any]:
    """A Pub/Sub push body (wrapped): base64 data, attributes, messageId."""
    data = raw if raw is not None else json.dumps(payload).encode()
    mid = message_id or str(uuid.uuid4().int)[:16]
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "attributes": {"source": "commercetools"},
            "messageId": mid,
            "message_id": mid,
            "publishTime": "2026-11-01T10:00:00.123Z",
        },
        "subscription": "projects/shop/subscriptions/ctsync-push",
    }


def sns(payload: Any, *, message: str | None = None, **fields: Any) -> dict[str, Any]:
    """An SNS Notification (unsigned; tests.certs.SnsSigner signs it)."""
    return {
        "Type": "Notification",
        "MessageId": _id(),
        "TopicArn": TOPIC_ARN,
        "Message": message if message is not None else json.dumps(payload),
        "Timestamp": "2026-11-01T10:00:00.000Z",
        "UnsubscribeURL": "https://sns.eu-central-1.amazonaws.com/?Action=Unsubscribe",
        **fields,
    }


def sns_confirmation(subscribe_url: str, kind: str = "SubscriptionConfirmation") -> dict[str, Any]:
    return {
        "Type": kind,
        "MessageId": _id(),
        "Token": "2336412f37fb687f5d51e6e2425c464de",
        "TopicArn": TOPIC_ARN,
        "Message": f"You have chosen to subscribe to the topic {TOPIC_ARN}.",
        "SubscribeURL": subscribe_url,
        "Timestamp": "2026-11-01T10:00:00.000Z",
    }


SNS_HEADERS = {
    "content-type": "text/plain; charset=UTF-8",
    "x-amz-sns-message-type": "Notification",
    "user-agent": "Amazon Simple Notification Service Agent",
}


def cloudevent(payload: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """commercetools' CloudEvents format: ``data`` is the Platform payload."""
    resource = _resource(payload).get("typeId", "customer")
    kind = "message" if payload.get("notificationType") == "Message" else "change"
    name = payload.get("type") if kind == "message" else payload.get("notificationType")
    return {
        "specversion": "1.0",
        "id": event_id or payload.get("id") or _id(),
        "type": f"com.commercetools.{resource}.{kind}.{name}",
        "source": f"/{payload.get('projectKey', 'shop')}/{resource}s",
        "subject": _resource(payload).get("id", "x"),
        "time": "2026-11-01T10:00:00.000Z",
        "sequence": str(payload.get("sequenceNumber", 1)),
        "sequencetype": "Integer",
        "dataref": f"/{payload.get('projectKey', 'shop')}/messages/{payload.get('id', 'x')}",
        "data": payload,
    }


def binary_headers(event: dict[str, Any]) -> dict[str, str]:
    """The ``ce-*`` headers of binary content mode for ``event`` (its data goes in the body)."""
    headers = {f"ce-{k}": str(v) for k, v in event.items() if k != "data"}
    return {**headers, "content-type": "application/json"}


def eventgrid(*payloads: dict[str, Any]) -> list[dict[str, Any]]:
    """Events in the Event Grid schema, ``data`` = the commercetools payload."""
    return [
        {
            "id": _id(),
            "topic": "/subscriptions/x/resourceGroups/shop/providers/Microsoft.EventGrid/topics/ct",
            "subject": _resource(p).get("id", "x"),
            "eventType": f"com.commercetools.customer.message.{p.get('type', 'X')}",
            "eventTime": "2026-11-01T10:00:00.000Z",
            "data": p,
            "dataVersion": "1.0",
            "metadataVersion": "1",
        }
        for p in payloads
    ]


def eventgrid_validation(code: str) -> list[dict[str, Any]]:
    return [
        {
            "id": _id(),
            "topic": "/subscriptions/x/resourceGroups/shop/providers/Microsoft.EventGrid/topics/ct",
            "subject": "",
            "data": {
                "validationCode": code,
                "validationUrl": "https://rp-westeurope.eventgrid.azure.net/validate",
            },
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2026-11-01T10:00:00.000Z",
            "metadataVersion": "1",
            "dataVersion": "2",
        }
    ]


def eventbridge(payload: Any, *, event_id: str | None = None) -> dict[str, Any]:
    """An EventBridge event from the commercetools partner source, ``detail`` = the payload."""
    return {
        "version": "0",
        "id": event_id or _id(),
        "detail-type": payload.get("type", "Message") if isinstance(payload, dict) else "x",
        "source": "aws.partner/commercetools.com/shop/ctsync",
        "account": "123456789012",
        "time": "2026-11-01T10:00:00Z",
        "region": "eu-central-1",
        "resources": [],
        "detail": payload,
    }
