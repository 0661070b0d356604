"""Measure (a): single event POST and single metric POST, 32 connections, 30 s.

wrk spreads requests round-robin over 100 sessions opened beforehand, so every session
keeps growing through the run — the case where the seed slowed down because it rewrote
the whole session on every write. Each kind runs on a fresh server and database.
"""

from __future__ import annotations

import orjson

from bench import seed, wrk
from bench.config import Config
from bench.report import Result
from bench.server import serve

SESSIONS = 100
CONNECTIONS = 32
TARGET = ">= 4,000 req/s, p99 < 50 ms"

EVENT_BODY = {"name": "user_action", "data": seed.EVENT_DATA}
METRIC_BODY = {"name": "cpu_percent", "value": 42.5, "tags": {"core": "0"}}


def _lua(session_ids: list[str], kind: str, body: dict[str, object]) -> str:
    ids = ",".join(f'"{sid}"' for sid in session_ids)
    return f"""
local ids = {{{ids}}}
local n = #ids
local body = {wrk.lua_string(orjson.dumps(body).decode())}
local headers = {{["Content-Type"] = "application/json"}}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", "/api/sessions/" .. ids[(counter % n) + 1] .. "/{kind}",
                    headers, body)
end
"""


def _run(cfg: Config, kind: str, body: dict[str, object]) -> Result:
    with serve(cfg.db(f"a_{kind}"), workers=cfg.workers) as server:
        session_ids = seed.create_sessions(server.url, SESSIONS)
        result = wrk.run(
            server,
            "/",
            _lua(session_ids, kind, body),
            connections=CONNECTIONS,
            duration_s=cfg.seconds(30, 2),
            threads=2,
        )
        rss = server.rss_mb()
    rate = result.ok_per_s
    met = rate >= 4000 and result.p99_ms < 50 and result.errors == 0
    return Result(
        measure=f"a_{kind[:-1]}_post",
        target=TARGET,
        measured=f"{rate:,.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms",
        met=met,
        figures={
            "req_per_s": round(rate, 1),
            **wrk.fields(result),
            "connections": CONNECTIONS,
            "sessions": SESSIONS,
            "server_rss_mb": round(rss, 1),
        },
    )


def run_events(cfg: Config) -> Result:
    return _run(cfg, "events", EVENT_BODY)


def run_metrics(cfg: Config) -> Result:
    return _run(cfg, "metrics", METRIC_BODY)
