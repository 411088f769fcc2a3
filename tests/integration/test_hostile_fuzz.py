"""The fuzz target (bench/fuzz_webhook.py), run small: no mutated delivery gets a 5xx."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from bench import fuzz_webhook


def test_a_small_fuzz_run_gets_no_5xx(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    # On PostgreSQL too: it refuses what SQLite takes (a NUL in text was a 503 once).
    assert fuzz_webhook.main(["--count", "10000", "--seed", "7", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "5xx answers: 0" in out
    assert "200 x" in out  # mutations still reach the pipeline,
    assert "400 x" in out  # and the parser's refusals


def test_the_harness_counts_a_crash_as_a_5xx() -> None:
    async def crashing_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise RuntimeError(scope["path"])

    request = fuzz_webhook.Request("/api/webhook", {}, b"{}")
    assert asyncio.run(fuzz_webhook.call(crashing_app, request))[0] == 500


def test_every_envelope_is_seeded_and_mutations_are_reproducible() -> None:
    corpus = fuzz_webhook.seeds()
    assert len(corpus) >= 12 * 8  # every example in every envelope
    assert {r.headers.get("content-type") for r in corpus} >= {
        "application/json",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "text/plain; charset=UTF-8",
    }

    def run(seed: int) -> list[bytes]:
        rng = random.Random(seed)
        return [fuzz_webhook.mutate(corpus[0], corpus, rng).body for _ in range(50)]

    assert run(3) == run(3)
    assert run(3) != run(4)
