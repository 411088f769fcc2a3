"""Lanes: one drainer per destination, so a failing or throttled one never delays another.

Each lane claims only its destination's outbox rows, keeps its own retry
pauses (429) and rate-limit bucket, and runs its own loop: a destination
answering 500 backs off alone while the others deliver as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from ctsync.delivery._drainer import Drainer, DrainReport
from ctsync.sinks import Sink

__all__ = ["Lanes"]


class Lanes:
    """Several drainers behind the one interface the runtime uses (notify, drain, run)."""

    def __init__(self, drainers: Mapping[str, Drainer], sinks: Mapping[str, Sink]) -> None:
        self._drainers = dict(drainers)
        self._sinks = dict(sinks)

    @property
    def names(self) -> list[str]:
        """The destinations, one lane each."""
        return list(self._drainers)

    @property
    def owner(self) -> str:
        return next(iter(self._drainers.values())).owner

    def notify(self) -> None:
        """New messages were queued: wake every lane."""
        for drainer in self._drainers.values():
            drainer.notify()

    async def drain(
        self,
        *,
        budget_s: float | None = None,
        max_batches: int | None = None,
        concurrency: int = 4,
    ) -> DrainReport:
        """Deliver what is due in every lane at once, each within the same budget."""
        reports = await asyncio.gather(
            *(
                d.drain(budget_s=budget_s, max_batches=max_batches, concurrency=concurrency)
                for d in self._drainers.values()
            )
        )
        total = DrainReport()
        for report in reports:
            total.add(report)
        return total

    async def run(self, stop: asyncio.Event, *, idle_s: float = 1.0) -> None:
        """Every lane's loop, side by side, until ``stop`` is set."""
        await asyncio.gather(*(d.run(stop, idle_s=idle_s) for d in self._drainers.values()))

    async def aclose(self) -> None:
        """Close the lanes' own sinks (the runtime closes the default one)."""
        for sink in self._sinks.values():
            await sink.aclose()
