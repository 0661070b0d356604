"""``GET /api/sessions/{id}`` of a session holding 10,000 events, at 32 and at 1 connection.

That one call returns state, every event and every metric (the seed's shape), so it is the
read most sensitive to session size. 32 connections show throughput when many dashboards
poll; one connection, back to back, shows the server's own time for the whole response
without queueing. The session is filled once through the API; each run copies that file.
The references answer the same GET with datacat's own response bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from bench import seed, wrk
from bench.config import Config
from bench.protocol import Figures, datacat_runs, prefixed, reference_runs, template
from bench.report import Check, Row, number, rate_text
from bench.server import Server


def run(cfg: Config, workers: int | None) -> list[Row]:
    events = cfg.pick(10_000, 1_000)

    def fill(server: Server) -> Figures:
        (session_id,) = seed.create_sessions(server.url, 1, concurrency=1)
        items = (seed.event_item(session_id, timestamp=seed.timestamp(i)) for i in range(events))
        seed.post_batches(server.url, list(seed.chunks(items)))
        return {"session_id": session_id}

    db, info = template(cfg, "session_get", fill)
    path = f"/api/sessions/{info['session_id']}"
    answer: dict[str, Any] = {}

    def load_for(connections: int) -> Callable[[Server], wrk.Load]:
        def prepare(server: Server) -> wrk.Load:
            if "body" not in answer:
                response = httpx.get(server.url + path, timeout=60)
                got = len(response.json()["events"])
                if got != events:
                    raise RuntimeError(f"expected {events} events, got {got}")
                answer["body"] = response.content
            return wrk.Load(path, "", connections, threads=min(2, connections))

        return prepare

    many, load_many = datacat_runs(cfg, "session_get_c32", workers, load_for(32), template=db)
    one, load_one = datacat_runs(cfg, "session_get_c1", workers, load_for(1), template=db)
    count = int(many["workers"])
    refs_many = reference_runs(cfg, "session_get_c32", count, load_many, answer["body"])
    refs_one = reference_runs(cfg, "session_get_c1", count, load_one, answer["body"])
    figures = {"events": events, **many, **prefixed("one_conn_", one)}
    refs = {app: {**refs_many[app], **prefixed("one_conn_", refs_one[app])} for app in refs_many}
    describe = (
        f"32 conns: {rate_text(many)}. 1 conn: p50 {number(one['p50_ms'])} ms, "
        f"p99 {number(one['p99_ms'])} ms, {number(one['req_per_s'])} req/s; "
        f"{number(many['response_bytes'] / 1024)} KiB per response"
    )
    return [
        Row(
            "session_get_10k",
            f"GET a session holding {events:,} events (`GET /api/sessions/{{id}}`)",
            [
                Check("32 conns", "req_per_s", ">=", 90, "req/s"),
                Check("1 conn p50", "one_conn_p50_ms", "<", 15, "ms"),
            ],
            figures,
            describe,
            references=refs,
            workers=count,
            note="ratios at 32 conns",
        )
    ]
