"""An example ctsync plugin package: a sink and two transforms.

Install it (``pip install ./examples/plugins``) and name its parts in a mapping file:

    destinations:
      archive: {type: jsonl, endpoint: "file:///var/lib/ctsync/archive.jsonl"}
    routes:
      - project: my-shop
        to: [default, archive]
    transforms: [tag_source, skip_test_accounts]
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ctsync.errors import PermanentError
from ctsync.sinks import SinkResult, SinkSpec


class JsonlSink:
    """Appends every message to a JSON Lines file (an archive, or a CDP's batch import)."""

    name = "jsonl"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.endpoint = path.as_uri()

    async def send(self, batch: Sequence[str]) -> SinkResult:
        started = time.perf_counter()
        try:
            with self.path.open("a", encoding="utf-8") as out:
                out.writelines(line + "\n" for line in batch)
        except OSError as exc:  # a full disk will not heal by retrying this batch soon
            raise PermanentError(f"cannot write {self.path}: {exc}") from exc
        return SinkResult(status_code=None, latency_ms=(time.perf_counter() - started) * 1000)

    async def probe(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

    async def aclose(self) -> None:
        return None


def make_jsonl_sink(spec: SinkSpec) -> JsonlSink:
    """The ``ctsync.sinks`` entry point: ``endpoint`` is a file:// URL."""
    url = urlparse(spec.endpoint or "")
    if url.scheme != "file" or not url.path:
        raise ValueError(f"destination {spec.name}: endpoint must be a file:// URL")
    return JsonlSink(Path(url.path))


def tag_source(message: dict[str, Any]) -> dict[str, Any]:
    """Say where the message comes from, for destinations that filter on it."""
    message.setdefault("context", {})["source"] = {"name": "commercetools", "via": "ctsync"}
    return message


def skip_test_accounts(message: dict[str, Any]) -> dict[str, Any] | None:
    """Send nothing about the shop's test accounts (emails at example.test)."""
    user_id = str(message.get("userId") or "")
    return None if user_id.endswith("@example.test") else message


if __name__ == "__main__":  # pragma: no cover - a quick look at what a transform does
    print(json.dumps(tag_source({"type": "track", "event": "Order Completed"})))
