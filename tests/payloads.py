"""Builders of realistic commercetools payloads for tests."""

from __future__ import annotations

import uuid
from typing import Any

PROJECT = "shop-test"


def customer(
    cid: str = "c-1", *, version: int = 1, email: str = "Jane.Doe@Example.com", **fields: Any
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": cid,
        "version": version,
        "email": email,
        "firstName": "Jane",
        "lastName": "Doe",
        "addresses": [
            {
                "id": "a1",
                "country": "DE",
                "streetName": "Hauptstr.",
                "streetNumber": "5",
                "city": "Berlin",
                "postalCode": "10115",
            }
        ],
        "defaultBillingAddressId": "a1",
        "createdAt": "2026-11-01T10:00:00.000Z",
        "lastModifiedAt": "2026-11-01T10:00:00.000Z",
    }
    base.update(fields)
    return base


def message(mtype: str, cid: str = "c-1", *, version: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "notificationType": "Message",
        "projectKey": PROJECT,
        "id": str(uuid.uuid4()),
        "version": 1,
        "sequenceNumber": version,
        "resource": {"typeId": "customer", "id": cid},
        "resourceVersion": version,
        "resourceUserProvidedIdentifiers": {},
        "type": mtype,
        "createdAt": f"2026-11-01T10:00:{version:02d}.000Z",
        "lastModifiedAt": f"2026-11-01T10:00:{version:02d}.000Z",
        **fields,
    }


def created(cid: str = "c-1", *, version: int = 1, **fields: Any) -> dict[str, Any]:
    return message(
        "CustomerCreated", cid, version=version, customer=customer(cid, version=version, **fields)
    )


def first_name_set(
    cid: str = "c-1", *, version: int = 2, name: str | None = "Janet"
) -> dict[str, Any]:
    extra = {"firstName": name} if name is not None else {}
    return message("CustomerFirstNameSet", cid, version=version, **extra)


def change(kind: str = "ResourceUpdated", cid: str = "c-1", *, version: int = 2) -> dict[str, Any]:
    return {
        "notificationType": kind,
        "projectKey": PROJECT,
        "resource": {"typeId": "customer", "id": cid},
        "resourceUserProvidedIdentifiers": {},
        "version": version,
        "oldVersion": version - 1,
        "modifiedAt": "2026-11-01T10:05:00.000Z",
    }


def seed(cid: str = "c-1", *, version: int = 1, kind: str = "CustomerUpdated") -> dict[str, Any]:
    return {"notificationType": "Message", "type": kind, "customer": customer(cid, version=version)}
