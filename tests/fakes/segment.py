"""A fake of Segment's HTTP Tracking API, run on loopback, that fails on demand.

Segment has no emulator, so tests and benchmarks run this one. It speaks
``POST /v1/{batch,identify,track,alias,group,page,screen}`` with Segment's auth
(Basic ``base64(writeKey + ":")`` or ``writeKey`` in the body) and its limits
(32 KB per message, 500 KB and 2,500 messages per batch, 400 for invalid JSON),
and records every message it accepts. Failures are injected in this order:
down (503), the scripted queue, chaos (random 5xx/429, seeded), then the real
checks. An HTTP control API under ``/_fake/`` lets another process drive it.

In a test::

    with FakeSegment() as fake:
        fake.script([500, 429])
        ...  # point the sink at fake.url with fake.write_key
        fake.wait_for(lambda: len(fake.messages) == 3)

As a process: ``python -m tests.fakes.segment --port 0 --write-key K`` prints
its URL once it is listening.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import gzip
import json
import random
import signal
import socket
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from starlette.requests import Request

__all__ = ["Answer", "Chaos", "FakeSegment", "Received", "RequestLog", "build_app"]

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 2500
MAX_MESSAGE_ID_CHARS = 100
CALL_TYPES = ("identify", "track", "alias", "group", "page", "screen")


@dataclass(frozen=True)
class Answer:
    """One scripted answer. A 2xx means "process normally". ``record=True`` with
    an error status processes and records the request, then answers the error:
    Segment got the messages but the caller never learns it (a lost ack).
    """

    status: int
    retry_after: float | str | None = None  # a str is sent as it is: "inf", an HTTP date
    delay: float = 0.0
    record: bool = False
    body: bytes | None = None  # raw bytes to answer with instead of Segment's JSON error


@dataclass(frozen=True)
class Chaos:
    """Random failures, drawn from a seeded RNG so a run can be repeated."""

    p5xx: float = 0.0
    p429: float = 0.0
    slow_p: float = 0.0
    slow_s: float = 0.0
    retry_after: float | None = 1.0
    seed: int = 0


@dataclass(frozen=True)
class Received:
    """One accepted message, as sent (minus ``writeKey``)."""

    request: int
    at: float
    path: str
    message: dict[str, Any]
    problems: tuple[str, ...] = ()  # why real Segment would drop it later, silently


@dataclass(frozen=True)
class RequestLog:
    """One request to /v1/*, with the status the fake answered."""

    number: int
    at: float
    path: str
    status: int
    messages: int
    reason: str = ""


@dataclass
class _State:
    received: list[Received] = field(default_factory=list)
    requests: list[RequestLog] = field(default_factory=list)
    seen_ids: set[str] = field(default_factory=set)
    duplicates: int = 0
    script: list[Answer] = field(default_factory=list)
    chaos: Chaos = field(default_factory=Chaos)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    down: bool = False
    delay: float = 0.0
    retry_after: float | None = 1.0


class _Reject(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class FakeSegment:
    """The fake's state and controls, plus a uvicorn runner on 127.0.0.1.

    Thread-safe: uvicorn serves from its own thread while the test thread
    reads, scripts and waits.
    """

    def __init__(
        self, write_key: str = "test-write-key", *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.write_key = write_key
        self.host, self.port = host, port
        self._state = _State()
        self._cond = threading.Condition(threading.RLock())
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = build_app(self)

    # -- running ---------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> FakeSegment:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 10.0) -> None:
        """Serve in a background thread; return once it accepts connections."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit this; without it, asyncio answers a pre-bound
        # socket's requests ~40 ms late (Nagle meets delayed ACK).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        sock.listen(1024)  # connections queue from here on, even before uvicorn runs
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, lifespan="off", log_level="warning", access_log=False)
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="fake-segment", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake Segment did not start")
            time.sleep(0.005)

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():  # a scripted delay still holds a request open
            self._server.force_exit = True
            self._thread.join(timeout)
        self._server = self._thread = None

    # -- controls --------------------------------------------------------------
    def script(self, answers: Iterable[int | Answer]) -> None:
        """Queue the next answers, e.g. ``[500, 500, 429]``; then back to normal."""
        with self._cond:
            self._state.script.extend(a if isinstance(a, Answer) else Answer(a) for a in answers)

    def chaos(
        self,
        p5xx: float = 0.0,
        p429: float = 0.0,
        slow_p: float = 0.0,
        slow_s: float = 0.0,
        retry_after: float | None = 1.0,
        seed: int = 0,
    ) -> None:
        """Fail at random from now on; ``chaos()`` with no arguments turns it off."""
        with self._cond:
            self._state.chaos = Chaos(p5xx, p429, slow_p, slow_s, retry_after, seed)
            self._state.rng = random.Random(seed)

    def down(self) -> None:
        """Answer 503 to every /v1 request until ``up()``."""
        with self._cond:
            self._state.down = True

    def up(self) -> None:
        with self._cond:
            self._state.down = False

    def set_delay(self, seconds: float) -> None:
        """Wait this long before every /v1 answer."""
        with self._cond:
            self._state.delay = seconds

    def set_retry_after(self, seconds: float | None) -> None:
        """The ``Retry-After`` of scripted 429s and 503s (None: no header)."""
        with self._cond:
            self._state.retry_after = seconds

    def reset(self) -> None:
        """Forget everything recorded and every failure mode."""
        with self._cond:
            self._state = _State()
            self._cond.notify_all()

    # -- reading ---------------------------------------------------------------
    @property
    def received(self) -> list[Received]:
        with self._cond:
            return list(self._state.received)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every accepted message in arrival order (duplicates included)."""
        return [r.message for r in self.received]

    @property
    def requests(self) -> list[RequestLog]:
        with self._cond:
            return list(self._state.requests)

    def message_ids(self) -> list[str | None]:
        """The ``messageId`` of every accepted message, in order."""
        return [m.get("messageId") for m in self.messages]

    def silently_dropped(self) -> list[Received]:
        """Accepted messages that real Segment would drop after answering 200."""
        return [r for r in self.received if r.problems]

    def stats(self) -> dict[str, Any]:
        with self._cond:
            s = self._state
            by_status: dict[str, int] = {}
            for r in s.requests:
                by_status[str(r.status)] = by_status.get(str(r.status), 0) + 1
            return {
                "requests": len(s.requests),
                "by_status": by_status,
                "messages": len(s.received),
                "unique_message_ids": len(s.seen_ids),
                "duplicates": s.duplicates,
                "silently_dropped": sum(1 for r in s.received if r.problems),
                "down": s.down,
                "scripted_left": len(s.script),
                "chaos": asdict(s.chaos),
                "delay": s.delay,
            }

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Block until ``predicate()`` is true; TimeoutError with the stats if not.

        Wakes on every request the fake answers, and every 50 ms for conditions
        that depend on something else.
        """
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met in {timeout} s; fake: {self.stats()}")
            with self._cond:
                self._cond.wait(min(remaining, 0.05))

    async def wait_for_async(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 (the same signature as wait_for)
    ) -> None:
        """``wait_for`` for a test running an event loop (does not block the loop)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met in {timeout} s; fake: {self.stats()}")
            await asyncio.sleep(0.01)

    # -- the request path (called from the server thread) -----------------------
    async def _handle(self, path: str, headers: Mapping[str, str], raw: bytes) -> Response:
        """Answer one /v1 request: injected failure, delay, then Segment's checks."""
        injected, delay, state = self._next_failure()
        if delay:
            await asyncio.sleep(delay)
        failing = injected is not None and injected.status >= 300
        if injected is not None and failing and not injected.record:
            self._answered(state, path, injected.status, [], "injected")
            if injected.body is not None:  # what a misbehaving proxy might send
                return Response(injected.body, injected.status, media_type="text/plain")
            return _error(injected.status, "injected", "injected failure", injected.retry_after)
        try:
            messages = _accept(headers, raw, path, self.write_key)
        except _Reject as exc:
            self._answered(state, path, exc.status, [], exc.code)
            return _error(exc.status, exc.code, exc.message)
        if injected is not None and failing:  # a lost ack: recorded, answered as failed
            self._answered(state, path, injected.status, messages, "injected after recording")
            return _error(injected.status, "injected", "injected failure", injected.retry_after)
        self._answered(state, path, 200, messages)
        if injected is not None and injected.body is not None:  # an odd body on success
            return Response(injected.body, injected.status, media_type="text/plain")
        return JSONResponse({"success": True})

    def _next_failure(self) -> tuple[Answer | None, float, _State]:
        """Decide a request's fate before looking at it: (injected answer, delay)."""
        with self._cond:
            s = self._state
            if s.down:
                return Answer(503, retry_after=s.retry_after), s.delay, s
            if s.script:
                answer = s.script.pop(0)
                return answer, s.delay + answer.delay, s
            c, rng = s.chaos, s.rng
            draw, slow = rng.random(), rng.random() < c.slow_p
            delay = s.delay + (c.slow_s if slow else 0.0)
            if draw < c.p5xx:
                return Answer(rng.choice((500, 502, 503))), delay, s
            if draw < c.p5xx + c.p429:
                return Answer(429, retry_after=c.retry_after), delay, s
            return None, delay, s

    def _answered(
        self,
        state: _State,
        path: str,
        status: int,
        messages: list[dict[str, Any]],
        reason: str = "",
    ) -> None:
        """Log one request and record the messages it delivered, in one step."""
        with self._cond:
            if state is not self._state:
                return  # it began before a reset(): not part of the new run
            number, now = len(state.requests) + 1, time.time()
            for message in messages:
                message_id = message.get("messageId")
                if isinstance(message_id, str):
                    state.duplicates += message_id in state.seen_ids
                    state.seen_ids.add(message_id)
                received = Received(number, now, path, message, _problems(message))
                state.received.append(received)
            state.requests.append(RequestLog(number, now, path, status, len(messages), reason))
            self._cond.notify_all()


# -- the ASGI app ----------------------------------------------------------------


def build_app(fake: FakeSegment) -> Starlette:
    """The fake's routes: Segment's API under /v1, the control API under /_fake."""

    async def track_api(request: Request) -> JSONResponse:
        try:
            raw = await request.body()  # first, as a server does before it gets slow
        except ClientDisconnect:
            return JSONResponse({}, 499)
        return await fake._handle(request.url.path, request.headers, raw)

    routes = [Route("/v1/batch", track_api, methods=["POST"])]
    routes += [Route(f"/v1/{t}", track_api, methods=["POST"]) for t in CALL_TYPES]
    routes += _control_routes(fake)
    return Starlette(routes=routes)


def _control_routes(fake: FakeSegment) -> list[Route]:
    async def messages(request: Request) -> JSONResponse:
        since = request.query_params.get("since", "0")
        if not since.isdigit():
            return _error(400, "bad_since", "since must be a message index (0, 1, ...)")
        records = fake.received[int(since) :]
        return JSONResponse({"count": len(records), "messages": [asdict(r) for r in records]})

    async def requests(_: Request) -> JSONResponse:
        return JSONResponse({"requests": [asdict(r) for r in fake.requests]})

    async def stats(_: Request) -> JSONResponse:
        return JSONResponse(fake.stats())

    async def control(request: Request) -> JSONResponse:
        verb = request.path_params["verb"]
        if verb not in _CONTROLS:
            return _error(404, "unknown_control", f"no control named {verb!r}")
        try:
            _CONTROLS[verb](fake, await _json_params(request))
        except (KeyError, TypeError, ValueError) as exc:
            return _error(400, "bad_control", f"{verb}: {exc!r}")
        return JSONResponse({"ok": True, "stats": fake.stats()})

    return [
        Route("/_fake/messages", messages, methods=["GET"]),
        Route("/_fake/requests", requests, methods=["GET"]),
        Route("/_fake/stats", stats, methods=["GET"]),
        Route("/_fake/{verb}", control, methods=["POST"]),
    ]


def _script_from_json(fake: FakeSegment, params: dict[str, Any]) -> None:
    answers = params["answers"]
    fake.script(Answer(**a) if isinstance(a, dict) else int(a) for a in answers)


_CONTROLS: dict[str, Callable[[FakeSegment, dict[str, Any]], None]] = {
    "reset": lambda f, _: f.reset(),
    "down": lambda f, _: f.down(),
    "up": lambda f, _: f.up(),
    "chaos": lambda f, p: f.chaos(**p),
    "delay": lambda f, p: f.set_delay(float(p["seconds"])),
    "retry-after": lambda f, p: f.set_retry_after(p.get("seconds")),
    "script": _script_from_json,
}


async def _json_params(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        return {}
    params = json.loads(body)
    return params if isinstance(params, dict) else {}


def _error(
    status: int, code: str, message: str, retry_after: float | str | None = None
) -> JSONResponse:
    headers = {}
    if retry_after is not None and status in {429, 503}:
        given = retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
        headers["Retry-After"] = given
    return JSONResponse({"success": False, "code": code, "message": message}, status, headers)


# -- Segment's checks ------------------------------------------------------------


def _accept(
    headers: Mapping[str, str], raw: bytes, path: str, write_key: str
) -> list[dict[str, Any]]:
    """Check one request as Segment does; return its messages or raise _Reject."""
    auth = headers.get("authorization")
    if auth is not None and not _basic_key_ok(auth, write_key):
        raise _Reject(401, "invalid_write_key", "the write key in Authorization is not valid")
    data = _inflate(raw, headers.get("content-encoding"))
    body = _parse(data)
    if auth is None and body.get("writeKey") != write_key:
        raise _Reject(401, "invalid_write_key", "no valid write key (Basic auth or writeKey)")
    if path == "/v1/batch":
        return _batch_messages(body)
    if len(data) > MAX_MESSAGE_BYTES:
        raise _Reject(400, "message_too_large", f"message over {MAX_MESSAGE_BYTES} bytes")
    body.pop("writeKey", None)
    body.setdefault("type", path.rsplit("/", 1)[-1])
    return [body]


def _basic_key_ok(header: str, write_key: str) -> bool:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        return False
    return user == write_key


def _inflate(raw: bytes, encoding: str | None) -> bytes:
    """Segment takes gzip bodies; its limits apply to what they inflate to."""
    try:
        data = gzip.decompress(raw) if encoding == "gzip" else raw
    except (OSError, EOFError, zlib.error) as exc:
        raise _Reject(400, "invalid_gzip", f"cannot inflate the body: {exc}") from exc
    if len(data) > MAX_BATCH_BYTES:
        raise _Reject(400, "request_too_large", f"request over {MAX_BATCH_BYTES} bytes")
    return data


def _parse(data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise _Reject(400, "invalid_json", f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise _Reject(400, "invalid_json", "the body must be a JSON object")
    return body


def _batch_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    batch = body.get("batch")
    if not isinstance(batch, list) or not all(isinstance(m, dict) for m in batch):
        raise _Reject(400, "invalid_batch", "batch must be a list of objects")
    if len(batch) > MAX_BATCH_MESSAGES:
        raise _Reject(400, "too_many_messages", f"over {MAX_BATCH_MESSAGES} messages")
    for message in batch:
        if len(json.dumps(message, separators=(",", ":")).encode()) > MAX_MESSAGE_BYTES:
            raise _Reject(400, "message_too_large", f"a message over {MAX_MESSAGE_BYTES} bytes")
    return batch


def _problems(message: dict[str, Any]) -> tuple[str, ...]:
    """What Segment rejects after its 200 (visible only in its Debugger)."""
    problems = []
    kind = message.get("type")
    if kind not in CALL_TYPES:
        problems.append("invalid_type")
    if not message.get("userId") and not message.get("anonymousId"):
        problems.append("no_user_anon_id")
    if kind == "track" and not message.get("event"):
        problems.append("missing_event")
    if kind == "alias" and not message.get("previousId"):
        problems.append("missing_previous_id")
    message_id = message.get("messageId")
    if isinstance(message_id, str) and len(message_id) >= MAX_MESSAGE_ID_CHARS:
        problems.append("message_id_too_long")
    return tuple(problems)


# -- as a process ----------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run until SIGINT or SIGTERM; print the URL once listening."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.segment",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--write-key", default="test-write-key")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with FakeSegment(args.write_key, host=args.host, port=args.port) as fake:
        print(fake.url, flush=True)
        while not stop.wait(0.5):
            pass


if __name__ == "__main__":
    main()
