"""``GET /api/metrics/series`` with a state filter over 1,000,000 points (no table target).

10,000 sessions, each with a state ``{"config": {"model": "m0".."m9"}, "phase": ...}`` and
100 points of one metric (``loss``), client-timestamped as if the runs were concurrent.
The query asks for ``loss`` where ``config.model == m3`` — a tenth of the sessions, so
100,000 points feed the statistics and the newest 5,000 come back. One connection, back
to back: the figure is the query's own latency. Kept from the first benchmark suite with
its target (p50 < 150 ms) because no other row exercises the state filter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx

from bench import seed, wrk
from bench.config import Config
from bench.protocol import Figures, datacat_runs, template
from bench.report import Check, Row, number, rate_text
from bench.server import Server

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


def run(cfg: Config, workers: int | None) -> list[Row]:
    n_sessions = cfg.pick(10_000, 100)
    per_session = cfg.pick(100, 10)
    path = "/api/metrics/series?" + urlencode(
        {"name": "loss", "state_path": "config.model", "state_value": "m3"}
    )

    def fill(server: Server) -> Figures:
        ids = seed.create_sessions(server.url, n_sessions)
        accepted, seconds = seed.post_batches(
            server.url, list(seed.chunks(_items(ids, per_session)))
        )
        return {"seed_items_per_s": round(accepted / seconds)}

    db, info = template(cfg, "series", fill)
    matched: dict[str, int] = {}

    def prepare(server: Server) -> wrk.Load:
        if not matched:
            answer = httpx.get(server.url + path, timeout=60).json()
            expected = len(range(3, n_sessions, MODELS)) * per_session
            if answer["points_matched"] != expected:
                raise RuntimeError(f"expected {expected} points, got {answer['points_matched']}")
            matched["points_matched"] = answer["points_matched"]
            matched["points_returned"] = len(answer["points"])
        return wrk.Load(path, "", 1, threads=1)

    figures, _ = datacat_runs(cfg, "series", workers, prepare, template=db)
    figures = {"points_total": n_sessions * per_session, **matched, **info, **figures}
    return [
        Row(
            "series_state_filter",
            f"`GET /api/metrics/series` + state filter, {n_sessions * per_session:,} points in "
            f"{n_sessions:,} sessions, 1 connection",
            [Check("p50", "p50_ms", "<", 150, "ms")],
            figures,
            rate_text(figures) + f"; {number(figures['points_matched'])} points matched",
            workers=int(figures["workers"]),
        )
    ]
