"""Single-request write paths: session create, nested state update, event POST, metric POST.

These are what an uninstrumented client (curl, another language, the seed's clients)
sends: one object per request. Writes go round-robin over 100 sessions opened through the
API beforehand, so every session keeps growing through the run — the case where the seed
slowed down because it rewrote the whole session on every write. Each run is a fresh
server on a fresh file; the references replay the same script.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from bench import seed, wrk
from bench.config import Config
from bench.protocol import datacat_runs, reference_runs
from bench.report import Check, Row, rate_text
from bench.server import Server

SESSIONS = 100
CONNECTIONS = 32

EVENT_BODY = {"name": "user_action", "data": seed.EVENT_DATA}
METRIC_BODY = {"name": "cpu_percent", "value": 42.5, "tags": {"core": "0"}}
STATE_HEAD = '{"application":{"status":"running","window":{"open":["main","space probe"],'
STATE_TAIL = '}},"config":{"model":{"name":"m3","layers":[64,64,32]},"lr":0.001}}'
"""A nested state body; the step counter between head and tail makes every update change
the state (a server that skips no-op merges must still do the work)."""


def _ids(session_ids: list[str]) -> str:
    return "local ids = {" + ",".join(f'"{sid}"' for sid in session_ids) + "}\nlocal n = #ids\n"


def round_robin(session_ids: list[str], kind: str, body: dict[str, object]) -> str:
    """wrk Lua: POST ``body`` to ``/api/sessions/{id}/{kind}``, cycling through the ids."""
    return f"""{_ids(session_ids)}
local body = {wrk.lua_string(orjson.dumps(body).decode())}
local headers = {{["Content-Type"] = "application/json"}}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", "/api/sessions/" .. ids[(counter % n) + 1] .. "/{kind}",
                    headers, body)
end
"""


def _state_lua(session_ids: list[str]) -> str:
    return f"""{_ids(session_ids)}
local head = {wrk.lua_string(STATE_HEAD)}
local tail = {wrk.lua_string(STATE_TAIL)}
local headers = {{["Content-Type"] = "application/json"}}
local counter = 0
request = function()
  counter = counter + 1
  local body = head .. '"step":' .. counter .. tail
  return wrk.format("POST", "/api/sessions/" .. ids[(counter % n) + 1] .. "/state",
                    headers, body)
end
"""


def _row(
    cfg: Config,
    key: str,
    title: str,
    checks: list[Check],
    workers: int | None,
    lua_for: Callable[[list[str]], str] | None,
) -> Row:
    def prepare(server: Server) -> wrk.Load:
        if lua_for is None:  # session create: nothing to open first
            return wrk.Load("/api/sessions", 'wrk.method = "POST"\n', CONNECTIONS)
        ids = seed.create_sessions(server.url, SESSIONS)
        return wrk.Load("/", lua_for(ids), CONNECTIONS)

    figures, load = datacat_runs(cfg, key, workers, prepare)
    refs = reference_runs(cfg, key, int(figures["workers"]), load)
    return Row(
        key,
        title,
        checks,
        figures,
        rate_text(figures),
        references=refs,
        workers=int(figures["workers"]),
    )


def session_create(cfg: Config, workers: int | None) -> list[Row]:
    checks = [Check("", "req_per_s", ">=", 12_000, "req/s")]
    title = "session create: `POST /api/sessions`, no body"
    return [_row(cfg, "session_create", title, checks, workers, None)]


def state_update(cfg: Config, workers: int | None) -> list[Row]:
    checks = [Check("", "req_per_s", ">=", 10_000, "req/s")]
    title = f"nested state update: `POST /api/sessions/{{id}}/state`, {SESSIONS} sessions"
    return [_row(cfg, "state_update", title, checks, workers, _state_lua)]


def _post_checks() -> list[Check]:
    return [
        Check("", "req_per_s", ">=", 6_000, "req/s"),
        Check("p99", "p99_ms", "<", 50, "ms"),
    ]


def event_post(cfg: Config, workers: int | None) -> list[Row]:
    title = f"event POST: `POST /api/sessions/{{id}}/events`, {SESSIONS} sessions"

    def lua(ids: list[str]) -> str:
        return round_robin(ids, "events", EVENT_BODY)

    return [_row(cfg, "event_post", title, _post_checks(), workers, lua)]


def metric_post(cfg: Config, workers: int | None) -> list[Row]:
    title = f"metric POST: `POST /api/sessions/{{id}}/metrics`, {SESSIONS} sessions"

    def lua(ids: list[str]) -> str:
        return round_robin(ids, "metrics", METRIC_BODY)

    return [_row(cfg, "metric_post", title, _post_checks(), workers, lua)]
