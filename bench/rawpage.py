"""The raw pager: ctsync's API client reading every customer page by id cursor, nothing else.

    python -m bench.rawpage <api-url> <project-key>

Run as a process, as ``ctsync backfill`` is, so both pay their start. Prints
JSON: how many customers it read, and the seconds from its first request to its
last page (its reading alone, start left out).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from ctsync.commercetools import ApiConfig, CommercetoolsClient


async def read_all(url: str, project: str) -> tuple[int, float]:
    """Every customer page once; (customers, seconds reading)."""
    config = ApiConfig(project, "bench", "bench-secret", auth_url=url, api_url=url)
    async with CommercetoolsClient(config) as client:
        started = time.perf_counter()
        seen = 0
        async for page in client.pages("customers"):
            seen += len(page)
        return seen, time.perf_counter() - started


def main() -> None:
    """Read, then print the count and the reading time as JSON."""
    seen, seconds = asyncio.run(read_all(sys.argv[1], sys.argv[2]))
    print(json.dumps({"customers": seen, "reading_s": seconds}))


if __name__ == "__main__":
    main()
