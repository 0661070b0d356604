"""1,000,000 events by single POSTs into 10,000 new sessions; then RSS and disk.

The sustained version of the event POST row: a fixed amount of work (not 10 s), into
many sessions opened through the API first, so indexes, caches and memory grow to the
size a real deployment reaches. One run at full size (it takes minutes); the references
replay the same script under the usual 10 s protocol, since an app that stores nothing
does not slow down with volume.

Right after the last answer the row also reads the server's RSS (every process summed,
and per worker, since each worker carries its own interpreter and caches) and the disk:
database + WAL bytes per event as an operator sees them, and after a checkpoint.
"""

from __future__ import annotations

import sqlite3
import time

from bench import seed, wrk
from bench.config import Config
from bench.protocol import reference_runs
from bench.report import Check, Row, emit, number, rate_text
from bench.server import serve
from bench.single_post import EVENT_BODY, round_robin


def run(cfg: Config, workers: int | None) -> list[Row]:
    total = cfg.pick(1_000_000, 2_000)
    n_sessions = cfg.pick(10_000, 100)
    db = cfg.db(f"ingest_1m-w{workers or 'default'}")
    with serve(db, workers=workers) as server:
        started = time.perf_counter()
        ids = seed.create_sessions(server.url, n_sessions)
        create_s = time.perf_counter() - started
        load = wrk.Load("/", round_robin(ids, "events", EVENT_BODY), 32, threads=2)
        result = wrk.run_count(server, load, total)
        memory = {
            "rss_mb": round(server.rss_mb(), 1),
            "peak_rss_mb": round(server.peak_rss_mb(), 1),
            **server.rss_parts_mb(),
            "processes": server.processes(),
            "workers": server.workers(),
        }
        sizes = server.db_bytes()
    with sqlite3.connect(db) as conn:
        (stored,) = conn.execute("SELECT count(*) FROM events").fetchone()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    if stored < total:
        raise RuntimeError(f"{total:,} events answered but {stored:,} stored")
    count = int(memory["workers"])
    ingest = {
        "events": total,
        "events_stored": stored,
        "sessions": n_sessions,
        "sessions_created_per_s": round(n_sessions / create_s),
        "events_per_s": round(result.ok / result.duration_s),
        "seconds": round(result.duration_s, 1),
        **wrk.fields(result),
        "workers": count,
    }
    emit({"kind": "run", "row": "ingest_1m", "app": "datacat", "run": 0, **ingest, **memory})
    refs = reference_runs(cfg, "ingest_1m", count, load)
    on_disk = sizes["db"] + sizes["db_wal"]
    disk = {
        "events": stored,
        "db_bytes": sizes["db"],
        "wal_bytes": sizes["db_wal"],
        "bytes_per_event": round(on_disk / stored, 1),
        "bytes_per_event_checkpointed": round(db.stat().st_size / stored, 1),
    }
    memory["rss_per_worker_mb"] = round(memory["rss_mb"] / count, 1)
    return [
        Row(
            "ingest_1m",
            f"{total:,} events by single POSTs into {n_sessions:,} new sessions",
            [Check("", "events_per_s", ">=", 6_000, "events/s")],
            ingest,
            rate_text(ingest, "events_per_s", "events/s")
            + f"; {number(ingest['seconds'])} s; sessions opened at "
            f"{number(ingest['sessions_created_per_s'])}/s first",
            primary="events_per_s",
            unit="events/s",
            references=refs,
            workers=count,
            note=f"one run; references: the same script, {cfg.duration_s:g} s runs",
        ),
        Row(
            "rss_1m",
            f"server RSS after those {total:,} events, every server process together",
            [Check("", "rss_per_worker_mb", "<", 150, "MiB per worker")],
            memory,
            f"{number(memory['rss_mb'])} MiB in {memory['processes']} process(es) = "
            f"{number(memory['rss_per_worker_mb'])} MiB per worker "
            f"(heap {number(memory['rss_anon_mb'])}, file {number(memory['rss_file_mb'])}); "
            f"peak {number(memory['peak_rss_mb'])} MiB",
            primary="rss_per_worker_mb",
            unit="MiB",
            workers=count,
        ),
        Row(
            "disk_1m",
            f"disk after those {total:,} events (database + WAL)",
            [Check("", "bytes_per_event", "<", 250, "bytes/event")],
            disk,
            f"{number(disk['bytes_per_event'])} bytes/event "
            f"({number(disk['bytes_per_event_checkpointed'])} after a WAL checkpoint)",
            primary="bytes_per_event",
            unit="bytes/event",
            workers=count,
        ),
    ]
