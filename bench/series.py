"""Measure (f): ``GET /api/metrics/series`` with a state filter over 1,000,000 points.

10,000 sessions, each with a state ``{"config": {"model": "m0".."m9"}, "phase": ...}`` and
100 points of one metric (``loss``), client-timestamped as if the runs were concurrent.
The query asks for ``loss`` where ``config.model == m3`` — a tenth of the sessions, so
100,000 points feed the statistics and the newest 5,000 come back. One connection, back
to back: the figure is the query's own latency.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx

from bench import seed, wrk
from bench.config import Config
from bench.report import Result
from bench.server import serve

TARGET = "p50 < 150 ms"
MODELS = 10


def _items(ids: list[str], per_session: int) -> Iterator[dict[str, Any]]:
    n = len(ids)
    for s, session_id in enumerate(ids):
        yield {
            "op": "state",
            "session_id": session_id,
            "state": {"config": {"model": f"m{s % MODELS}", "lr": 0.001}, "phase": "train"},
        }
        for j in range(per_session):
            yield {
                "op": "metric",
                "session_id": session_id,
                "name": "loss",
                "value": ((s * 31 + j * 17) % 1000) / 100,
                "timestamp": seed.timestamp(j * n + s),
            }


def run(cfg: Config) -> Result:
    n_sessions = cfg.pick(10_000, 100)
    per_session = cfg.pick(100, 10)
    with serve(cfg.db("f_series"), workers=cfg.workers) as server:
        ids = seed.create_sessions(server.url, n_sessions)
        bodies = list(seed.chunks(_items(ids, per_session)))
        accepted, seconds = seed.post_batches(server.url, bodies)
        path = "/api/metrics/series?" + urlencode(
            {"name": "loss", "state_path": "config.model", "state_value": "m3"}
        )
        answer = httpx.get(server.url + path, timeout=60).json()
        expected = len(range(3, n_sessions, MODELS)) * per_session
        if answer["points_matched"] != expected:
            raise RuntimeError(f"expected {expected} points, got {answer['points_matched']}")
        result = wrk.run(server, path, "", connections=1, duration_s=cfg.seconds(15, 2))
    return Result(
        measure="f_series_state_filter",
        target=TARGET,
        measured=f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms",
        met=result.p50_ms < 150 and result.errors == 0,
        figures={
            "points_total": n_sessions * per_session,
            "sessions": n_sessions,
            "points_matched": answer["points_matched"],
            "points_returned": len(answer["points"]),
            "req_per_s": round(result.ok_per_s, 1),
            **wrk.fields(result),
            "seed_items_per_s": round(accepted / seconds),
        },
    )
