"""The outbox drainer: claim due messages, send them in batches, record what happened.

Used by ``serve`` (a background task), ``worker`` (N concurrent loops),
``drain`` and the cron route (once, within a time budget), and the webhook on a
serverless platform (one short attempt on its way out).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ctsync import metrics
from ctsync.delivery._observe import count_response, log_outcomes, observe
from ctsync.delivery._retry import RetryPolicy
from ctsync.errors import PermanentError, RetryableError
from ctsync.logs import get_logger
from ctsync.sinks import MAX_MESSAGE_BYTES, Sink, chunk_batches
from ctsync.store import Conn, Store, storable_text
from ctsync.store._ops import (
    Claimed,
    Outcome,
    claim,
    next_due,
    renew_leases,
    settle,
    take_tokens,
)

T = TypeVar("T")
log = get_logger("ctsync.delivery")


@dataclass(slots=True)
class DrainReport:
    """Counts of one drain run, by outcome."""

    claimed: int = 0
    delivered: int = 0
    captured: int = 0
    retried: int = 0
    dead: int = 0
    lease_lost: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DrainReport) -> None:
        for name in (
            "claimed",
            "delivered",
            "captured",
            "retried",
            "dead",
            "lease_lost",
            "batches",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)

    def to_json(self) -> dict[str, Any]:
        return {
            "claimed": self.claimed,
            "delivered": self.delivered,
            "captured": self.captured,
            "retried": self.retried,
            "dead": self.dead,
            "leaseLost": self.lease_lost,
            "batches": self.batches,
        }


@dataclass(frozen=True, slots=True)
class DrainerConfig:
    """The delivery settings a drainer needs (from Settings)."""

    lease_s: float = 30.0
    batch_size: int = 100
    linger_s: float = 0.05
    rate_limit: float | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    destination: str = "default"  # the lane: only this destination's messages (delivery/_lanes)


class Drainer:
    """Delivers due outbox messages to a sink; any number may share one store."""

    def __init__(
        self,
        store: Store,
        sink: Sink,
        config: DrainerConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._sink = sink
        self._config = config
        self._clock = clock
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._paused_until = 0.0
        self._wake = asyncio.Event()
        self._queued = 0  # notifications since the last claim
        self._batch_ready = asyncio.Event()  # a full batch was queued meanwhile

    @property
    def _bucket(self) -> str:
        """The rate limit's bucket: one per destination."""
        lane = self._config.destination
        return "sink" if lane == "default" else f"sink:{lane}"

    @property
    def owner(self) -> str:
        return self._owner

    def notify(self) -> None:
        """New messages were queued: wake the background loop now."""
        self._wake.set()
        self._queued += 1
        if self._queued >= self._config.batch_size:
            self._batch_ready.set()

    async def drain_once(self, limit: int | None = None) -> DrainReport:
        """Claim one batch of due messages and deliver it; an empty report when idle."""
        report = DrainReport()
        if self._clock() < self._paused_until:
            return report
        want = min(limit or self._config.batch_size, self._config.batch_size)
        if self._config.rate_limit:
            want = max(1, min(want, int(self._config.rate_limit)))
        now = self._clock()
        self._queued = 0
        self._batch_ready.clear()
        claimed = await self._db(
            lambda c: claim(
                c,
                owner=self._owner,
                now=now,
                lease_s=self._config.lease_s,
                limit=want,
                destination=self._config.destination,
            )
        )
        if not claimed:
            return report
        report.claimed = len(claimed)
        async with self._holding():
            await self._throttle(len(claimed))
            outcomes = await self._deliver(claimed, report)
        lost = await self._db(
            lambda c: settle(c, owner=self._owner, now=self._clock(), outcomes=outcomes)
        )
        report.lease_lost = lost
        self._count(outcomes, report)
        observe(claimed, outcomes, now=self._clock())
        log_outcomes(claimed, outcomes)
        return report

    @contextlib.asynccontextmanager
    async def _holding(self) -> AsyncIterator[None]:
        """Renew this drainer's leases while its batch is being sent.

        A slow sink, the rate-limit wait or a failed batch resent one by one may take
        longer than the lease; without renewal another drainer would claim and send
        the same messages while this one is still at it.
        """
        renewer = asyncio.create_task(self._renew_leases())
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    async def _renew_leases(self) -> None:
        lease = self._config.lease_s
        while True:
            await asyncio.sleep(lease / 3)
            try:
                await self._db(
                    lambda c: renew_leases(c, owner=self._owner, now=self._clock(), lease_s=lease)
                )
            except Exception:  # noqa: BLE001 - the next renewal (or the settle) will tell
                log.warning("lease_renewal_failed", action="deliver")

    async def drain(
        self,
        *,
        budget_s: float | None = None,
        max_batches: int | None = None,
        concurrency: int = 4,
    ) -> DrainReport:
        """Deliver what is due until nothing is, the budget is spent, or max_batches ran.

        ``concurrency`` batches are in flight at once (each loop claims its own rows;
        a customer's next message is never claimed while its previous one is pending).
        """
        deadline = None if budget_s is None else time.monotonic() + budget_s
        loops = max(1, concurrency if max_batches is None else min(concurrency, max_batches))
        per_loop = None if max_batches is None else max(1, max_batches // loops)
        reports = await asyncio.gather(
            *(self._drain_loop(deadline, per_loop) for _ in range(loops))
        )
        total = DrainReport()
        for report in reports:
            total.add(report)
        return total

    async def _drain_loop(self, deadline: float | None, max_batches: int | None) -> DrainReport:
        total = DrainReport()
        batches = 0
        while deadline is None or time.monotonic() < deadline:
            report = await self.drain_once()
            total.add(report)
            batches += 1
            if report.claimed == 0 or (max_batches is not None and batches >= max_batches):
                break
        return total

    async def run(self, stop: asyncio.Event, *, idle_s: float = 1.0) -> None:
        """Deliver until ``stop`` is set; sleep until woken or the next message is due."""
        while not stop.is_set():
            try:
                report = await self.drain_once()
            except Exception:  # the loop must outlive a store hiccup
                log.exception("drain_failed", action="drain")
                report = DrainReport()
            if report.claimed >= self._config.batch_size:
                continue  # a backlog: the next batch is waiting already
            if report.claimed:
                # Under steady load, claiming again at once would send whatever trickled
                # in meanwhile, a few messages a request; let the next batch fill first.
                await self._linger(stop)
                continue
            await self._idle(stop, idle_s)

    async def _linger(self, stop: asyncio.Event) -> None:
        """Wait ``linger_s`` for more messages, less when a full batch is queued first."""
        if self._config.linger_s:
            await _first_set(stop, self._batch_ready, within_s=self._config.linger_s)

    async def _idle(self, stop: asyncio.Event, idle_s: float) -> None:
        wait = idle_s
        try:
            due = await self._db(next_due)
        except Exception:  # noqa: BLE001 - an unreachable store means: try again later
            due = None
        if due is not None:
            wait = min(idle_s, max(0.0, due - self._clock()))
        wait = max(wait, self._paused_until - self._clock(), 0.01)
        self._wake.clear()
        if await _first_set(stop, self._wake, within_s=wait) is self._wake:
            # New messages arrive in bursts: give the burst a moment to become one batch,
            # instead of one request (and three store writes) per message.
            await self._linger(stop)

    async def _deliver(self, claimed: Sequence[Claimed], report: DrainReport) -> list[Outcome]:
        outcomes: list[Outcome] = []
        sendable: list[Claimed] = []
        sizes: list[int] = []
        for item in claimed:
            size = len(item.body.encode())
            if size > MAX_MESSAGE_BYTES:  # validated when queued; a replayed row may differ
                detail = f"invalid message: {size} bytes, over Segment's 32 KB"
                outcomes.append(Outcome(item.id, "dead", detail=detail))
            else:
                sendable.append(item)
                sizes.append(size)
        for chunk in chunk_batches(sizes):
            report.batches += 1
            outcomes.extend(await self._send_chunk([sendable[i] for i in chunk]))
        return outcomes

    async def _send_chunk(self, items: Sequence[Claimed]) -> list[Outcome]:
        started = time.perf_counter()
        try:
            result = await self._sink.send([c.body for c in items])
        except RetryableError as exc:
            count_response(exc.status_code)
            return self._retry_all(items, exc, (time.perf_counter() - started) * 1000)
        except PermanentError as exc:
            count_response(exc.status_code)
            return await self._refused(items, exc, started)
        except Exception as exc:  # noqa: BLE001 - a sink's bug must not leave rows claimed
            reason = f"unexpected error while sending: {type(exc).__name__}: {exc}"
            # No traceback: its frames hold the batch, which is personal data.
            log.error("sink_failed", action="deliver", error=reason)
            retry = RetryableError(reason)
            return self._retry_all(items, retry, (time.perf_counter() - started) * 1000)
        metrics.SINK_KEY_REJECTED.set(0)
        count_response(result.status_code)
        status = "captured" if result.captured else "delivered"
        answer = storable_text(result.response) if result.response else result.response
        return [Outcome(c.id, status, result.status_code, result.latency_ms, answer) for c in items]

    async def _refused(
        self, items: Sequence[Claimed], exc: PermanentError, started: float
    ) -> list[Outcome]:
        """A 4xx that no retry mends: dead letters, each message judged on its own."""
        if len(items) > 1 and exc.status_code != 404:
            # One bad message must not sink its batch-mates: send each alone.
            outcomes: list[Outcome] = []
            for item in items:
                outcomes.extend(await self._send_chunk([item]))
            return outcomes
        detail = _detail(exc, exc.status_code, exc.response)
        latency = (time.perf_counter() - started) * 1000
        return [Outcome(c.id, "dead", exc.status_code, latency, detail) for c in items]

    def _retry_all(
        self, items: Sequence[Claimed], exc: RetryableError, latency_ms: float
    ) -> list[Outcome]:
        now = self._clock()
        policy = self._config.policy
        if exc.status_code == 429:
            pause = exc.retry_after if exc.retry_after is not None else policy.base_s
            self._paused_until = now + min(pause, policy.cap_s)
        if exc.status_code in {401, 403}:  # a bad or rotated key, not a bad message
            metrics.SINK_KEY_REJECTED.set(1)
            log.error("sink_key_rejected", action="deliver", status_code=exc.status_code)
        detail = _detail(exc, exc.status_code, exc.response)
        outcomes = []
        for c in items:
            decision = self._config.policy.decide(
                failures=c.attempts + 1,
                now=now,
                deadline=c.deadline,
                retry_after=exc.retry_after,
            )
            if decision.give_up:
                outcomes.append(
                    Outcome(
                        c.id, "dead", exc.status_code, latency_ms, f"{detail}; {decision.reason}"
                    )
                )
            else:
                outcomes.append(
                    Outcome(
                        c.id,
                        "retry",
                        exc.status_code,
                        latency_ms,
                        detail,
                        next_attempt_at=decision.at,
                    )
                )
        return outcomes

    async def _throttle(self, n: int) -> None:
        rate = self._config.rate_limit
        if not rate:
            return
        while True:
            wait = await self._db(
                lambda c: take_tokens(c, name=self._bucket, rate=rate, want=n, now=self._clock())
            )
            if wait <= 0:
                return
            metrics.RATE_LIMITED.inc()
            await asyncio.sleep(wait)

    def _count(self, outcomes: Sequence[Outcome], report: DrainReport) -> None:
        for o in outcomes:
            if o.result == "retry":
                report.retried += 1
            elif o.result in {"delivered", "captured", "dead"}:
                setattr(report, o.result, getattr(report, o.result) + 1)
            metrics.MESSAGES.labels(status=o.result).inc()
            if o.latency_ms is not None and o.result in {"delivered", "retry"}:
                metrics.SEND_LATENCY.observe(o.latency_ms / 1000)

    async def _db(self, fn: Callable[[Conn], T]) -> T:
        # Claims and outcomes need no flush to disk: should the database crash and
        # lose the last of them, messages are sent again with the same messageId.
        return await self._store.awrite(fn, durable=False)


async def _first_set(*events: asyncio.Event, within_s: float) -> asyncio.Event | None:
    """Wait until one of ``events`` is set (that one), or ``within_s`` passes (None)."""
    waiters = {asyncio.ensure_future(e.wait()): e for e in events}
    done, _ = await asyncio.wait(waiters, timeout=within_s, return_when=FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
    return next((waiters[w] for w in done), None)


def _detail(exc: Exception, status: int | None, response: str | None) -> str:
    text = str(exc)
    if response:
        text = f"{text}: {response[:500]}"
    text = storable_text(text)  # whatever stands in front of the sink may answer a NUL
    return text if status is None or str(status) in text else f"HTTP {status}: {text}"
