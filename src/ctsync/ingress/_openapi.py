"""The webhook's request bodies, for the OpenAPI document.

The route reads raw bytes (the checks need them), so FastAPI cannot infer its
body: it is declared here, one schema per envelope, so that clients and
schemathesis see the shapes the endpoint takes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HANDSHAKE_OPENAPI", "WEBHOOK_OPENAPI"]

_TEXT: dict[str, Any] = {"type": "string"}
_ID: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 64}
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
_VERSION: dict[str, Any] = {"type": "integer", "minimum": 0}

_PLATFORM: dict[str, Any] = {
    "title": "Platform payload",
    "description": "A commercetools message or change notification (Platform format).",
    "type": "object",
    "required": ["notificationType", "projectKey", "id", "resource", "type"],
    "properties": {
        "notificationType": {
            "type": "string",
            "enum": ["Message", "ResourceCreated", "ResourceUpdated", "ResourceDeleted"],
        },
        "projectKey": _ID,
        "id": _ID,
        "version": _VERSION,
        "sequenceNumber": _VERSION,
        "resource": {
            "type": "object",
            "required": ["typeId", "id"],
            "properties": {"typeId": {"type": "string", "enum": ["customer", "order"]}, "id": _ID},
        },
        "resourceVersion": _VERSION,
        "type": {
            "type": "string",
            "enum": ["CustomerCreated", "CustomerFirstNameSet", "CustomerEmailChanged"],
        },
        "createdAt": _TIME,
        "firstName": _TEXT,
        "email": {"type": "string", "format": "email"},
        "customer": {
            "type": "object",
            "required": ["id", "email"],
            "properties": {"id": _ID, "version": _VERSION, "email": {"type": "string"}},
        },
    },
}

_PUBSUB: dict[str, Any] = {
    "title": "Pub/Sub push",
    "type": "object",
    "required": ["message", "subscription"],
    "properties": {
        "message": {
            "type": "object",
            "required": ["data", "messageId"],
            "properties": {
                "data": {"type": "string", "format": "byte"},
                "messageId": _ID,
                "publishTime": _TIME,
                "attributes": {"type": "object", "additionalProperties": _TEXT},
            },
        },
        "subscription": _TEXT,
    },
}

_SNS: dict[str, Any] = {
    "title": "SNS message",
    "type": "object",
    "required": ["Type", "MessageId", "TopicArn", "Timestamp"],
    "properties": {
        "Type": {
            "type": "string",
            "enum": ["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"],
        },
        "MessageId": _ID,
        "TopicArn": _TEXT,
        "Subject": _TEXT,
        "Message": _TEXT,
        "Timestamp": _TIME,
        "SignatureVersion": {"type": "string", "enum": ["1", "2"]},
        "Signature": {"type": "string", "format": "byte"},
        "SigningCertURL": _TEXT,
        "SubscribeURL": _TEXT,
        "Token": _TEXT,
    },
}

_CLOUDEVENT: dict[str, Any] = {
    "title": "CloudEvent (structured)",
    "type": "object",
    "required": ["specversion", "id", "source", "type"],
    "properties": {
        "specversion": {"type": "string", "enum": ["1.0"]},
        "id": _ID,
        "source": _TEXT,
        "type": {"type": "string", "pattern": "^com\\.commercetools\\."},
        "subject": _TEXT,
        "time": _TIME,
        "sequence": _TEXT,
        "datacontenttype": {"type": "string", "enum": ["application/json"]},
        "data": _PLATFORM,
    },
}

_EVENTGRID_EVENT: dict[str, Any] = {
    "title": "Event Grid event",
    "type": "object",
    "required": ["id", "eventType", "subject", "eventTime", "data", "dataVersion"],
    "properties": {
        "id": _ID,
        "topic": _TEXT,
        "subject": _TEXT,
        "eventType": _TEXT,
        "eventTime": _TIME,
        "dataVersion": _TEXT,
        "data": {
            "anyOf": [
                _PLATFORM,
                {"type": "object", "properties": {"validationCode": _TEXT}},
            ]
        },
    },
}

_EVENTBRIDGE: dict[str, Any] = {
    "title": "EventBridge event",
    "type": "object",
    "required": ["version", "id", "detail-type", "source", "detail"],
    "properties": {
        "version": _TEXT,
        "id": _ID,
        "detail-type": _TEXT,
        "source": _TEXT,
        "account": _TEXT,
        "time": _TIME,
        "region": _TEXT,
        "detail": _PLATFORM,
    },
}

_ANY_JSON_ENVELOPE: dict[str, Any] = {
    "description": "A commercetools delivery: the Platform format, or a cloud envelope around it",
    "anyOf": [
        _PLATFORM,
        _PUBSUB,
        _SNS,
        _CLOUDEVENT,
        _EVENTBRIDGE,
        {"type": "array", "items": _EVENTGRID_EVENT, "maxItems": 5},
    ],
}

WEBHOOK_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _ANY_JSON_ENVELOPE},
            "application/cloudevents+json": {"schema": _CLOUDEVENT},
            "application/cloudevents-batch+json": {
                "schema": {"type": "array", "items": _CLOUDEVENT, "maxItems": 5}
            },
            "text/plain": {"schema": {"type": "string", "description": "SNS posts text/plain"}},
        },
    },
    "responses": {
        "200": {
            "description": "Recorded (status accepted, duplicate, ignored, stale, waiting, "
            "rejected), a batch of results, or a handshake answer",
        },
        "400": {"description": "Malformed delivery"},
        "401": {"description": "Sender not verified"},
        "408": {"description": "The body did not arrive in time"},
        "413": {"description": "Body over 1 MiB"},
        "415": {"description": "Unsupported content type"},
        "502": {"description": "An SNS SubscribeURL could not be confirmed"},
        "503": {"description": "The store is unavailable; retry"},
    },
}

HANDSHAKE_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": "WebHook-Request-Origin",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "example": "eventgrid.azure.net"},
        }
    ],
    "responses": {
        "200": {"description": "Handshake accepted: WebHook-Allowed-Origin names the origin"},
        "401": {"description": "Sender not verified"},
    },
}
