"""Measure (d): ``GET /api/sessions/{id}`` of a session holding 10,000 events.

That one call returns state, every event and every metric (the seed's shape), so it is
the read most sensitive to session size. One connection, back to back, so the latency is
the server's own time for the whole response, not queueing behind other requests.
"""

from __future__ import annotations

import httpx

from bench import seed, wrk
from bench.config import Config
from bench.report import Result
from bench.server import serve

TARGET = "p50 < 25 ms"


def run(cfg: Config) -> Result:
    events = cfg.pick(10_000, 1_000)
    with serve(cfg.db("d_session"), workers=cfg.workers) as server:
        (session_id,) = seed.create_sessions(server.url, 1, concurrency=1)
        items = (seed.event_item(session_id, timestamp=seed.timestamp(i)) for i in range(events))
        seed.post_batches(server.url, list(seed.chunks(items)))
        path = f"/api/sessions/{session_id}"
        body = httpx.get(server.url + path, timeout=60).json()
        if len(body["events"]) != events:
            raise RuntimeError(f"expected {events} events, got {len(body['events'])}")
        result = wrk.run(server, path, "", connections=1, duration_s=cfg.seconds(15, 2))
    return Result(
        measure="d_session_get_10k",
        target=TARGET,
        measured=f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms",
        met=result.p50_ms < 25 and result.errors == 0,
        figures={
            "events": events,
            "response_bytes": result.bytes // max(1, result.requests),
            "req_per_s": round(result.ok_per_s, 1),
            **wrk.fields(result),
        },
    )
