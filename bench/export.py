"""Measure (e): ``GET /api/grafana/sessions`` over 1,000 sessions x 100 events.

The data is loaded by one server, which is then stopped; the export runs on a *fresh*
server on the same file, so its peak RSS (``VmHWM``) is the export's own footprint plus
start-up, not what seeding left behind. The body is read as raw bytes (no parsing in the
timed part) and checked once afterwards.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson

from bench import seed
from bench.config import Config
from bench.report import Result
from bench.server import serve

TARGET = "< 400 ms, peak RSS < 150 MB"


def _fetch(url: str, keep: bool) -> tuple[float, int, bytes]:
    chunks: list[bytes] = []
    size = 0
    started = time.perf_counter()
    with httpx.stream("GET", url + "/api/grafana/sessions", timeout=300) as response:
        response.raise_for_status()
        for chunk in response.iter_raw(1 << 20):
            size += len(chunk)
            if keep:
                chunks.append(chunk)
    return time.perf_counter() - started, size, b"".join(chunks)


def run(cfg: Config) -> Result:
    n_sessions = cfg.pick(1_000, 50)
    per_session = cfg.pick(100, 20)
    repeats = cfg.pick(7, 2)
    db = cfg.db("e_export")
    with serve(db, workers=cfg.workers) as server:
        ids = seed.create_sessions(server.url, n_sessions)

        def items() -> Iterator[dict[str, Any]]:
            for index, session_id in enumerate(ids):
                yield {
                    "op": "state",
                    "session_id": session_id,
                    "state": {"phase": "done", "run": index},
                }
                for i in range(per_session):
                    yield seed.event_item(session_id, timestamp=seed.timestamp(i))

        seed.post_batches(server.url, list(seed.chunks(items())))
    with serve(db, workers=cfg.workers) as server:
        rss_idle = server.rss_mb()
        times, size = [], 0
        for attempt in range(repeats):
            seconds, size, body = _fetch(server.url, keep=attempt == 0)
            times.append(seconds)
            if attempt == 0:
                exported = orjson.loads(body)
                if len(exported) != n_sessions or len(exported[0]["events"]) != per_session:
                    raise RuntimeError("export returned the wrong number of sessions/events")
                del body, exported
        peak, parts = server.peak_rss_mb(), server.rss_parts_mb()
    p50 = statistics.median(times) * 1000
    return Result(
        measure="e_export_1000x100",
        target=TARGET,
        measured=f"p50 {p50:.0f} ms (min {min(times) * 1000:.0f}), peak RSS {peak:.0f} MB",
        met=p50 < 400 and peak < 150,
        figures={
            "sessions": n_sessions,
            "events_per_session": per_session,
            "repeats": repeats,
            "p50_ms": round(p50, 1),
            "min_ms": round(min(times) * 1000, 1),
            "max_ms": round(max(times) * 1000, 1),
            "response_bytes": size,
            "peak_rss_mb": round(peak, 1),
            "idle_rss_mb": round(rss_idle, 1),
            **{"after_" + key: value for key, value in parts.items()},
        },
    )
