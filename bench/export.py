"""Grafana export ``GET /api/grafana/sessions`` of 1,000 sessions x 100 events, 32 connections.

The whole data set in one response, asked for by 32 clients at once: the case where a
server that builds the answer in memory runs out of it. Each run starts a fresh server on
a copy of a file filled once through the API and ends after 2 answers per connection
(requests this long do not fit a 10 s window); its peak RSS (``VmHWM``, every server
process summed) is the export's own plus start-up; the row reports the worst run. The
references send datacat's own export bytes, so the ratio compares work, not sizes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson

from bench import seed, wrk
from bench.config import Config
from bench.protocol import Figures, datacat_runs, reference_runs, template
from bench.report import Check, Row, number, rate_text
from bench.server import Server

PATH = "/api/grafana/sessions"
CONNECTIONS = 32
ROUNDS = 2
"""Answers per connection: each run ends at the 64th answer, not after 10 s (an export
under 32-way sharing can take longer than a 10 s window; see ``protocol.measure``)."""


def run(cfg: Config, workers: int | None) -> list[Row]:
    n_sessions = cfg.pick(1_000, 50)
    per_session = cfg.pick(100, 20)

    def fill(server: Server) -> Figures:
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
        return {}

    db, _ = template(cfg, "export", fill)
    answer: dict[str, bytes] = {}

    def prepare(server: Server) -> wrk.Load:
        if "body" not in answer:
            body = httpx.get(server.url + PATH, timeout=300).content
            exported = orjson.loads(body)
            if len(exported) != n_sessions or len(exported[0]["events"]) != per_session:
                raise RuntimeError("export returned the wrong number of sessions/events")
            answer["body"] = body
        return wrk.Load(PATH, "", CONNECTIONS, threads=2)

    answers = ROUNDS * CONNECTIONS
    figures, load = datacat_runs(cfg, "export", workers, prepare, template=db, count=answers)
    count = int(figures["workers"])
    refs = reference_runs(cfg, "export", count, load, answer["body"], count=answers)
    figures = {"sessions": n_sessions, "events_per_session": per_session, **figures}
    describe = (
        f"{rate_text(figures)}; peak RSS {number(figures['peak_rss_mb'])} MiB (worst run); "
        f"{number(figures['response_bytes'] / 2**20)} MiB per response"
    )
    return [
        Row(
            "export_1000x100",
            f"grafana export `GET {PATH}`, {n_sessions:,} sessions x {per_session} events",
            [
                Check("", "req_per_s", ">=", 7, "req/s"),
                Check("peak server RSS", "peak_rss_mb", "<", 400, "MiB"),
            ],
            figures,
            describe,
            references=refs,
            workers=count,
            note=f"each run: {answers} answers ({ROUNDS} per connection), not 10 s",
        )
    ]
