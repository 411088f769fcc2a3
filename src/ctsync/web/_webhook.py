"""The delivery routes: the webhook, the cron drain, health, readiness and metrics."""

from __future__ import annotations

import time
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ctsync import metrics
from ctsync.errors import (
    InputError,
    PayloadTooLarge,
    StoreError,
    Unauthorized,
    UnsupportedMediaType,
)
from ctsync.ingress import (
    MAX_BODY_BYTES,
    SOURCES,
    UNVERIFIED_HINT,
    CtEvent,
    Item,
    Proof,
    SenderGuard,
    SubscriptionNotConfirmed,
    confirm_subscription,
    decode_json,
    inflate,
    parse_ct_payload,
    unwrap,
)
from ctsync.ingress._openapi import HANDSHAKE_OPENAPI, WEBHOOK_OPENAPI
from ctsync.ingress._parse import payload_hash
from ctsync.logs import get_logger
from ctsync.pipeline import RecordResult
from ctsync.service import Runtime
from ctsync.store._browse import outbox_health
from ctsync.store._ops import counts, last_sink_answer
from ctsync.web._access import admin_allowed, require_cron

router = APIRouter()
log = get_logger("ctsync.webhook")

_JSON_TYPES = {
    "application/json",
    "text/plain",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
    "application/octet-stream",
    "",
}
_HANDSHAKE_ALLOW = "OPTIONS, POST"


class _BodyTimeout(InputError):
    """The body did not arrive within CTSYNC_BODY_TIMEOUT_S (a slow client)."""

    status_code = 408


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def _guard(request: Request) -> SenderGuard:
    """The app's sender checks, built on first use (they keep key and certificate caches)."""
    guard: SenderGuard | None = getattr(request.app.state, "sender_guard", None)
    if guard is None:
        guard = SenderGuard(_runtime(request).settings)
        request.app.state.sender_guard = guard
    return guard


@router.post("/api/webhook", openapi_extra=WEBHOOK_OPENAPI)
async def webhook(request: Request) -> Response:
    """Receive one commercetools delivery (or a batch envelope of them), in any envelope."""
    return await _timed(request, None)


# Routes take the bare Request: a typed FastAPI parameter makes FastAPI import
# pydantic.v1 (~200 ms of serverless cold start), so `source` is checked here and
# declared in the OpenAPI document by hand.
_SOURCE_PARAMETER = {
    "parameters": [
        {
            "name": "source",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": list(SOURCES)},
        },
    ],
}


@router.post("/api/webhook/{source}", openapi_extra=WEBHOOK_OPENAPI | _SOURCE_PARAMETER)
async def webhook_from(request: Request) -> Response:
    """The same, from a named cloud: a body that is no envelope is that cloud's raw delivery."""
    source = request.path_params["source"]
    if source not in SOURCES:
        return JSONResponse(
            {"error": f"unknown source {source!r}: one of {', '.join(SOURCES)}"},
            status_code=404,
        )
    return await _timed(request, source)


@router.options("/api/webhook", openapi_extra=HANDSHAKE_OPENAPI)
@router.options("/api/webhook/{source}", openapi_extra=HANDSHAKE_OPENAPI)
async def webhook_handshake(request: Request) -> Response:
    """The CloudEvents / Event Grid abuse-protection handshake: allow the asking origin."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        await _guard(request).check_headers(headers, dict(request.query_params))
    except Unauthorized as exc:
        return _unauthorized(request, exc)
    answer = {"Allow": _HANDSHAKE_ALLOW}
    origin = headers.get("webhook-request-origin", "").strip()
    if origin:
        answer |= {"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*"}
    return Response(status_code=200, headers=answer)


async def _timed(request: Request, source: str | None) -> Response:
    """Answer a delivery; every answer is counted, a raised 4xx or 503 included."""
    started = time.perf_counter()
    try:
        response = await _handle_delivery(request, source)
    except Exception as exc:
        metrics.REQUESTS.labels(code=str(_status_of(exc))).inc()
        metrics.WEBHOOK_LATENCY.observe(time.perf_counter() - started)
        raise
    metrics.REQUESTS.labels(code=str(response.status_code)).inc()
    metrics.WEBHOOK_LATENCY.observe(time.perf_counter() - started)
    return response


def _status_of(exc: Exception) -> int:
    """The status the app's error handlers answer ``exc`` with (see web/_app.py)."""
    if isinstance(exc, InputError):
        return exc.status_code
    if isinstance(exc, StoreError):
        return 503
    code = getattr(exc, "status_code", 500)
    return code if isinstance(code, int) else 500


async def _handle_delivery(request: Request, source: str | None) -> Response:
    rt = _runtime(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        data, proof = await _verified_json(request, headers)
    except Unauthorized as exc:
        return _unauthorized(request, exc)
    except _BodyTimeout as exc:
        return JSONResponse({"error": str(exc)}, status_code=408, headers={"Connection": "close"})
    unwrapped = unwrap(data, headers, source=source, proof=proof)
    if unwrapped.confirm_url is not None:
        return await _confirm(rt, unwrapped.confirm_url)
    if unwrapped.reply is not None:
        return JSONResponse(unwrapped.reply, headers=unwrapped.reply_headers)
    results = [await _record_item(rt, item, cloud=unwrapped.cloud) for item in unwrapped.items]
    if rt.settings.serverless and any(r.status == "accepted" for r in results):
        await _deliver_inline(rt)
    elif any(r.status == "accepted" for r in results):
        rt.drainer.notify()
    if rt.fetcher is not None and any(r.status in {"fetching", "waiting"} for r in results):
        rt.fetcher.notify()
    if unwrapped.batch:
        return JSONResponse({"status": "batch", "results": [r.to_json() for r in results]})
    return JSONResponse(results[0].to_json())


async def _verified_json(request: Request, headers: dict[str, str]) -> tuple[Any, Proof]:
    """The decoded body and what proved its sender (checks come first: unproven -> 401).

    Headers prove most senders (shared secret, Pub/Sub token); only an SNS
    signature needs the body, and then any body that cannot prove itself is a 401.
    """
    guard = _guard(request)
    try:
        proof = await guard.check_headers(headers, dict(request.query_params))
    except Unauthorized as exc:
        if not guard.checks_body:
            raise
        unproven = str(exc)
    else:
        _check_content_type(headers.get("content-type", ""))
        return await _read_json(request, headers), proof
    try:
        data = await _read_json(request, headers)
        proof = await guard.check_body(data)
    except InputError as exc:  # Unauthorized included: say why both checks failed
        raise Unauthorized(f"{unproven}; and no SNS signature: {exc}") from exc
    _check_content_type(headers.get("content-type", ""))
    return data, proof


async def _read_json(request: Request, headers: dict[str, str]) -> Any:
    body = await _read_body(request, _runtime(request).settings.body_timeout_s)
    return decode_json(inflate(body, headers.get("content-encoding")))


def _unauthorized(request: Request, exc: Unauthorized) -> Response:
    """401 with the reason (never a credential); Basic challenge so SNS sends its URL's auth."""
    log.warning("sender_unverified", action="webhook", path=request.url.path, reason=str(exc))
    challenge = {}
    if _runtime(request).settings.webhook_secret is not None:
        challenge = {"WWW-Authenticate": 'Basic realm="ctsync"'}
    return JSONResponse({"error": str(exc)}, status_code=401, headers=challenge)


async def _confirm(rt: Runtime, url: str) -> Response:
    """Confirm an SNS subscription by fetching its SubscribeURL (only on an SNS host)."""
    try:
        await confirm_subscription(url, rt.settings.sns_cert_host)
    except SubscriptionNotConfirmed as exc:
        log.warning("sns_subscription_not_confirmed", action="webhook", error=str(exc))
        return JSONResponse({"error": str(exc)}, status_code=502)
    log.info("sns_subscription_confirmed", action="webhook")
    return JSONResponse({"status": "confirmed"})


async def _record_item(rt: Runtime, item: Item, *, cloud: bool) -> RecordResult:
    ct_message_id = None
    try:
        if item.error:
            raise InputError(item.error)
        event = parse_ct_payload(item.payload, envelope=item.envelope)
    except InputError as exc:
        if not cloud:
            raise
        result = await rt.reject(_unparseable(item), str(exc))
    else:
        ct_message_id = event.message_id
        result = await rt.record(event)
    metrics.EVENTS.labels(status=result.status, envelope=item.envelope).inc()
    log.info(
        "recorded",
        action="webhook",
        status=result.status,
        envelope=item.envelope,
        delivery_id=item.delivery_id,
        event_id=result.event_id,
        ct_message_id=ct_message_id,
        messages=len(result.message_ids),
        reason=result.reason,
    )
    return result


def _unparseable(item: Item) -> CtEvent:
    """A stand-in event that keeps an unusable cloud delivery visible, with its payload."""
    key = item.delivery_id or payload_hash(item.payload)
    payload = item.payload if isinstance(item.payload, dict) else {"raw": item.payload}
    return CtEvent(
        kind="message",
        type="Unparseable",
        project_key="-",
        resource_type="-",
        resource_id="-",
        resource_version=None,
        message_id=None,
        created_at=None,
        dedupe_key=f"rej:{item.envelope}:{key}",
        payload=payload,
        envelope=item.envelope,
    )


async def _deliver_inline(rt: Runtime) -> None:
    """On a frozen-between-requests platform, deliver now, within a short budget."""
    try:
        await rt.drainer.drain(budget_s=rt.settings.inline_budget_s, max_batches=1)
    except Exception:  # the event is stored; the cron drain delivers it later
        log.exception("inline_delivery_failed", action="deliver")


def _check_content_type(value: str) -> None:
    media = value.split(";", 1)[0].strip().lower()
    if media not in _JSON_TYPES and not media.endswith("+json"):
        msg = f"unsupported content type {media!r}: send application/json"
        raise UnsupportedMediaType(msg)


async def _read_body(request: Request, timeout_s: float) -> bytes:
    """The raw body, refusing more than 1 MiB, and a body that trickles in too slowly."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_big = int(declared) > MAX_BODY_BYTES
        except ValueError:
            raise InputError("invalid Content-Length header") from None
        if too_big:
            raise PayloadTooLarge(f"body over {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise PayloadTooLarge(f"body over {MAX_BODY_BYTES} bytes")
                chunks.append(chunk)
    except TimeoutError:
        msg = f"the request body did not arrive within {timeout_s:g} s"
        raise _BodyTimeout(msg) from None
    return b"".join(chunks)


# One route per method: a shared route would give both the same OpenAPI operationId.
@router.get("/api/cron/drain", operation_id="cron_drain_get")
@router.post("/api/cron/drain", operation_id="cron_drain_post")
async def cron_drain(request: Request) -> Response:
    """Deliver what is due within the time budget (Vercel Cron calls it with GET)."""
    rt = _runtime(request)
    require_cron(request)
    budget = max(1.0, rt.settings.inline_budget_s * 5)
    if rt.watchdog is not None:
        await rt.watchdog.check_if_due()
    drained = await rt.drain_due(budget_s=budget)
    # Serverless has no background task: retention is enforced here, hourly at most.
    if time.time() - getattr(request.app.state, "purged_at", 0.0) > 3600:
        request.app.state.purged_at = time.time()
        await anyio.to_thread.run_sync(rt.purge_expired)
    return JSONResponse({"status": "drained", **drained})


@router.get("/api/health")
async def health() -> Response:
    """Liveness: the process answers (no I/O)."""
    return JSONResponse({"status": "ok"})


@router.get("/api/ready")
async def ready(request: Request) -> Response:
    """Readiness: the store answers a query (else nothing can be accepted: 503).

    The sink's state is reported in the body and as metrics, never as a 503: while
    Segment is down or rejects the key, events are still stored and retried, and an
    orchestrator must not pull a replica that can still accept them.
    """
    rt = _runtime(request)
    detailed = admin_allowed(request)
    problems: dict[str, Any] = {}
    last: Any = None
    try:
        last = await anyio.to_thread.run_sync(rt.store.read, last_sink_answer)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        problems["store"] = _detail(exc, detailed, "the store does not answer")
    if not rt.settings.sender_check_configured and not rt.settings.allow_unverified:
        problems["senderCheck"] = UNVERIFIED_HINT
    unprotected = rt.settings.unprotected
    body = {
        "status": "ready" if not problems else "not ready",
        "store": rt.store.dialect,
        "sink": rt.sink.name,
        "sinkState": await _sink_state(rt, last, detailed=detailed),
        "captureMode": rt.settings.capture_mode,
        **({"problems": problems} if problems else {}),
        **({"unprotected": unprotected} if unprotected else {}),
        **_subscription(rt),
    }
    return JSONResponse(body, status_code=503 if problems else 200)


def _subscription(rt: Runtime) -> dict[str, Any]:
    """The watchdog's last reading: a note, not a 503 (events can still be stored)."""
    latest = rt.watchdog.latest if rt.watchdog is not None else None
    if latest is None:
        return {}
    note = latest.note()
    return {"subscription": latest.to_json(), **({"notes": [note]} if note else {})}


def _detail(exc: Exception, detailed: bool, summary: str) -> str:
    """An error's text for the admin (it may name hosts, users, paths); a summary for others."""
    return str(exc) if detailed else f"{summary} (details with the admin token)"


async def _sink_state(rt: Runtime, last: Any, *, detailed: bool) -> dict[str, Any]:
    """Whether the sink answers, and its last answer to a delivery (from any drainer)."""
    state: dict[str, Any] = {"reachable": True}
    try:
        await rt.sink.probe()
    except Exception as exc:  # noqa: BLE001 - reported, never a reason to be unready
        error = _detail(exc, detailed, "the sink endpoint does not answer")
        state = {"reachable": False, "error": error}
    metrics.SINK_REACHABLE.set(1 if state["reachable"] else 0)
    if last is not None:
        code = last["status_code"]
        state["lastStatusCode"] = code
        state["lastAnswerAt"] = last["at"]
        if code in {401, 403}:
            state["keyRejected"] = True
            state["warning"] = (
                f"the sink answered HTTP {code} to the last delivery: the write key "
                "(SEGMENT_WRITE_KEY) is wrong or was rotated; messages are kept and retried"
            )
    return state


@router.get("/metrics")
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus text format; outbox gauges are read from the store."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest  # noqa: PLC0415 - see metrics

    rt = _runtime(request)
    at = time.time()
    try:
        current = await anyio.to_thread.run_sync(rt.store.read, counts)
        health = await anyio.to_thread.run_sync(rt.store.read, lambda c: outbox_health(c, now=at))
        backfills = await anyio.to_thread.run_sync(
            rt.store.read, lambda c: c.all("list_backfills", limit=50)
        )
    except Exception:  # noqa: BLE001 - metrics still answer when the store does not
        current, health, backfills = {"messages": {}}, {}, []
    if health:  # a status that emptied must read 0, not its last value
        for status in ("pending", "delivered", "captured", "dead", "discarded"):
            metrics.OUTBOX.labels(status=status).set(current["messages"].get(status, 0))
    if health:
        metrics.OLDEST_DUE_AGE.set(health["oldestDueAgeS"] or 0.0)
    for b in backfills:
        metrics.BACKFILL_PROGRESS.labels(
            name=b["name"], resource=b["resource"], status=b["status"]
        ).set(b["processed"])
        metrics.BACKFILL_STAGED.labels(name=b["name"], what="resources").set(b["staged"])
        metrics.BACKFILL_STAGED.labels(name=b["name"], what="failed_pages").set(b["failed_pages"])
    return Response(generate_latest(metrics.registry()), media_type=CONTENT_TYPE_LATEST)
