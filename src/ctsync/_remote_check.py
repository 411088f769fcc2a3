"""``ctsync check --url``: prove a deployment end to end from the outside.

Health, readiness, then a signed test delivery (commercetools' own subscription
test message, which sends nothing to Segment) that must be acknowledged and then
be visible through the admin API: that needs the deployment's store, its sender
check and its admin token to work together.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["Step", "check_deployment"]

_TIMEOUT_S = 30.0  # a cold start on Vercel takes a few seconds; a stopped Neon compute too


@dataclass(frozen=True)
class Step:
    """One check and its outcome."""

    name: str
    ok: bool
    detail: str


def check_deployment(url: str, *, secret: str | None, admin_token: str | None) -> list[Step]:
    """Run every check against ``url`` (the deployment's base URL); stop at the first failure."""
    base = url.rstrip("/")
    steps: list[Step] = []
    with httpx.Client(base_url=base, timeout=_TIMEOUT_S, follow_redirects=False) as client:
        for run in (_health, _ready):
            steps.append(_safely(run.__name__.strip("_"), run, client))
            if not steps[-1].ok:
                return steps
        event_id: list[int] = []
        steps.append(_safely("delivery", _delivery, client, secret, event_id))
        if steps[-1].ok:
            steps.append(_safely("admin", _visible, client, admin_token, event_id[0]))
    return steps


def _safely(name: str, run: Callable[..., tuple[bool, str]], *args: Any) -> Step:
    try:
        ok, detail = run(*args)
    except httpx.HTTPError as exc:
        return Step(name, ok=False, detail=f"no answer: {type(exc).__name__}: {exc}")
    return Step(name, ok=ok, detail=detail)


def _health(client: httpx.Client) -> tuple[bool, str]:
    r = client.get("/api/health")
    return r.status_code == 200, f"GET /api/health -> {r.status_code}"


def _ready(client: httpx.Client) -> tuple[bool, str]:
    r = client.get("/api/ready")
    body = _json(r)
    detail = f"GET /api/ready -> {r.status_code}"
    if r.status_code == 200:
        return True, f"{detail} (store {body.get('store')}, sink {body.get('sink')})"
    return False, f"{detail}: {body.get('problems', r.text[:300])}"


def _delivery(client: httpx.Client, secret: str | None, event_id: list[int]) -> tuple[bool, str]:
    """POST a subscription test message; on success its ``eventId`` goes into ``event_id``."""
    resource_id = f"ctsync-check-{uuid.uuid4()}"
    body = {
        "notificationType": "ResourceCreated",
        "projectKey": "ctsync-check",
        "resource": {"typeId": "subscription", "id": resource_id},
        "resourceUserProvidedIdentifiers": {"key": "ctsync-check"},
        "version": 1,
        "modifiedAt": "2026-01-01T00:00:00.000Z",
    }
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    r = client.post("/api/webhook", json=body, headers=headers)
    answer = _json(r)
    if r.status_code != 200 or answer.get("eventId") is None:
        hint = " (set CTSYNC_WEBHOOK_SECRET here too)" if r.status_code == 401 else ""
        return False, f"POST /api/webhook -> {r.status_code}: {answer or r.text[:300]}{hint}"
    event_id.append(int(answer["eventId"]))
    return True, f"POST /api/webhook -> 200 {answer.get('status')} (event {answer['eventId']})"


def _visible(client: httpx.Client, admin_token: str | None, event_id: int) -> tuple[bool, str]:
    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
    r = client.get(f"/api/admin/events/{event_id}", headers=headers)
    detail = f"GET /api/admin/events/{event_id} -> {r.status_code}"
    if r.status_code != 200:
        hint = " (set CTSYNC_ADMIN_TOKEN here too)" if r.status_code == 401 else ""
        return False, f"{detail}: {_json(r).get('error', r.text[:300])}{hint}"
    event = _json(r)
    return True, f"{detail}: the test delivery is stored, status {event.get('status')}"


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
