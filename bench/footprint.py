"""Measure (g): server RSS and database bytes per event after 1,000,000 events.

Events go in as a batching client sends them — ``POST /api/batch`` with a client id
(16 hex characters) and a client timestamp on each — into 1,000 sessions, on a fresh
server and file. Disk is what an operator sees right after: the database file plus its
WAL. The file is then checkpointed (server stopped) to show what the rows alone take.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from bench import seed
from bench.config import Config
from bench.report import Result
from bench.server import serve

TARGET = "RSS < 150 MB, < 250 bytes per event on disk"
SESSIONS = 1_000


def _items(ids: list[str], total: int) -> Iterator[dict[str, Any]]:
    for i in range(total):
        yield seed.event_item(ids[i % len(ids)], id=f"{i:016x}", timestamp=seed.timestamp(i))


def run(cfg: Config) -> Result:
    total = cfg.pick(1_000_000, 10_000)
    db = cfg.db("g_footprint")
    with serve(db, workers=cfg.workers) as server:
        ids = seed.create_sessions(server.url, cfg.pick(SESSIONS, 100))
        bodies = list(seed.chunks(_items(ids, total)))
        accepted, seconds = seed.post_batches(server.url, bodies)
        del bodies
        if accepted != total:
            raise RuntimeError(f"expected {total} events accepted, got {accepted}")
        rss, peak, parts = server.rss_mb(), server.peak_rss_mb(), server.rss_parts_mb()
        sizes = server.db_bytes()
    on_disk = sizes["db"] + sizes["db_wal"]
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    checkpointed = db.stat().st_size
    per_event = on_disk / total
    return Result(
        measure="g_footprint_1m_events",
        target=TARGET,
        measured=(
            f"RSS {rss:.0f} MB (heap {parts['rss_anon_mb']:.0f}, mmap'd file "
            f"{parts['rss_file_mb']:.0f}), {per_event:.0f} B/event "
            f"(db+wal; {checkpointed / total:.0f} after checkpoint)"
        ),
        met=rss < 150 and per_event < 250,
        figures={
            "events": total,
            "sessions": len(ids),
            "rss_mb": round(rss, 1),
            "peak_rss_mb": round(peak, 1),
            **parts,
            "db_bytes": sizes["db"],
            "wal_bytes": sizes["db_wal"],
            "bytes_per_event": round(per_event, 1),
            "bytes_per_event_checkpointed": round(checkpointed / total, 1),
            "ingest_events_per_s": round(accepted / seconds),
        },
    )
