"""Measure (c): what logging a metric costs the application, through the default Session.

``python bench/client_overhead.py URL [N]`` (or ``python -m bench.client_overhead``) opens a
session with the default batching configuration, logs N metrics (default 100,000) in a
tight loop, and prints one JSON line:

- ``client_call_us``: mean wall time of one ``session.log_metric`` call in the loop;
- ``metrics_per_s_end_to_end``: N / (time from the first call until the server has
  acknowledged the last item);

then reads the stored metrics back and fails (exit 1) unless every one is there exactly once.
"""

from __future__ import annotations

import json
import os
import sys
import time

import httpx

from datacat_client import create_session


def stored_values(url: str, session_id: str) -> list[float]:
    values: list[float] = []
    cursor: str | None = None
    with httpx.Client(base_url=url, timeout=60) as http:
        while True:
            params: dict[str, str | int] = {"limit": 10_000, "name": "bench"}
            if cursor:
                params["cursor"] = cursor
            page = http.get(f"/api/sessions/{session_id}/metrics", params=params)
            page.raise_for_status()
            body = page.json()
            values.extend(item["value"] for item in body["items"])
            cursor = body["next_cursor"]
            if not cursor:
                return values


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    url, count = argv[1], int(argv[2]) if len(argv) > 2 else 100_000
    session = create_session(url, product="bench.client_overhead")
    log_metric = session.log_metric

    start = time.perf_counter()
    for i in range(count):
        log_metric("bench", i)
    in_app = time.perf_counter() - start
    delivered = session.flush(timeout=600)
    end_to_end = time.perf_counter() - start
    session.end()

    values = stored_values(url, session.session_id)
    exactly_once = sorted(values) == list(range(count))
    print(
        json.dumps(
            {
                "measure": "client_call_us",
                "value": round(in_app / count * 1e6, 3),
                "client_call_us": round(in_app / count * 1e6, 3),
                "metrics_per_s_end_to_end": round(count / end_to_end),
                "count": count,
                "stored": len(values),
                "exactly_once": exactly_once,
                "cores": os.cpu_count(),
            }
        )
    )
    if not (delivered and exactly_once and session.dropped == 0):
        print(f"lost or duplicated metrics; errors: {list(session.errors)[:5]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
