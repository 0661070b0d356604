"""Measure (b): batched events per second through ``POST /api/batch``, batches of 500.

Two variants, each on a fresh server. *plain*: one fixed body of 500 events spread over
100 sessions, server-stamped — the cheapest path. *with ids*: each body is built in Lua
with unique client ids and client timestamps, as the Python client's batching worker
sends them — which adds the unique-index check that makes retries safe.

16 connections: wrk is a closed loop, and with only 4 batches in flight every client waits
on the same group commit, so the server idles between groups (89k events/s at 4, 116k at
16, 125k at 32 on the 2-core box, with p99 rising 29 -> 80 -> 150 ms). 16 is where the
throughput curve flattens while a batch still answers in well under 100 ms.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from bench import seed, wrk
from bench.config import Config
from bench.report import Result
from bench.server import serve

BATCH = 500
SESSIONS = 100
CONNECTIONS = 16
TARGET = ">= 150,000 events/s"


def _plain_lua(session_ids: list[str]) -> str:
    items = [seed.event_item(session_ids[i % len(session_ids)]) for i in range(BATCH)]
    body = orjson.dumps({"items": items}).decode()
    return f"""
wrk.method = "POST"
wrk.body = {wrk.lua_string(body)}
wrk.headers["Content-Type"] = "application/json"
"""


def _ids_lua(session_ids: list[str]) -> str:
    # One wrk thread, so a plain counter makes every id unique for the whole run.
    ids = ",".join(f'"{sid}"' for sid in session_ids)
    data = orjson.dumps(seed.EVENT_DATA).decode()
    return f"""
local ids = {{{ids}}}
local n = #ids
local head = '{{"op":"event","name":"user_action","data":{data},'
          .. '"timestamp":"{seed.timestamp(0)}","session_id":"'
local headers = {{["Content-Type"] = "application/json"}}
local counter = 0
request = function()
  local parts = {{}}
  for i = 1, {BATCH} do
    counter = counter + 1
    parts[i] = head .. ids[(counter % n) + 1] .. '","id":"e' .. counter .. '"}}'
  end
  local body = '{{"items":[' .. table.concat(parts, ",") .. ']}}'
  return wrk.format(nil, nil, headers, body)
end
wrk.method = "POST"
"""


def _once(cfg: Config, name: str, lua_for: Callable[[list[str]], str]) -> wrk.WrkResult:
    with serve(cfg.db(f"b_{name}"), workers=cfg.workers) as server:
        session_ids = seed.create_sessions(server.url, SESSIONS)
        return wrk.run(
            server,
            "/api/batch",
            lua_for(session_ids),
            connections=CONNECTIONS,
            duration_s=cfg.seconds(30, 2),
            threads=1,
        )


def run(cfg: Config) -> Result:
    plain = _once(cfg, "plain", _plain_lua)
    with_ids = _once(cfg, "ids", _ids_lua)
    rate = plain.ok_per_s * BATCH
    rate_ids = with_ids.ok_per_s * BATCH
    return Result(
        measure="b_batch_events",
        target=TARGET,
        measured=(
            f"{rate:,.0f} events/s (with client ids + timestamps: {rate_ids:,.0f}); "
            f"p50 {plain.p50_ms:.0f} ms per batch"
        ),
        met=rate >= 150_000 and plain.errors == 0,
        figures={
            "events_per_s": round(rate),
            "events_per_s_with_ids": round(rate_ids),
            "batch_size": BATCH,
            "connections": CONNECTIONS,
            **wrk.fields(plain),
            "with_ids_p50_ms": round(with_ids.p50_ms, 2),
            "with_ids_p99_ms": round(with_ids.p99_ms, 2),
            "with_ids_errors": with_ids.errors,
            "with_ids_wrk_cpu_pct": round(with_ids.wrk_cpu_pct, 1),
        },
    )
