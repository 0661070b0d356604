"""``POST /api/batch`` with 500 events per body, 4 connections; and the SQLite floor.

*batch*: one fixed body of 500 events spread over 100 sessions, server-stamped — the
cheapest way to get events in. 4 connections: a handful of batching clients, not a crowd.
Its reference is not an HTTP app but SQLite itself: ``executemany`` of the same 500 rows
(session_pk, ts_us, name, data as JSON text) into a table built from datacat's own
``events`` definition (same indexes), WAL and ``synchronous=NORMAL`` as datacat sets
them, one commit per 500 rows, in this process on one thread. That is the most any
server can store this way on this disk; datacat ÷ SQLite is how close it gets.

*batch with ids*: each body is built in Lua with unique client ids and client timestamps,
as the Python client's batching worker sends them — which adds a timestamp parse and the
unique-index check that makes retries safe. No target of its own; it shows the price.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from pathlib import Path

import orjson
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from bench import seed, wrk
from bench.config import Config
from bench.protocol import Figures, datacat_runs
from bench.report import Check, Row, emit, rate_text
from bench.server import Server
from datacat.store.tables import events

BATCH = 500
SESSIONS = 100
CONNECTIONS = 4
CHECKS = [Check("", "events_per_s", ">=", 150_000, "events/s")]


def _items(session_ids: list[str]) -> list[dict[str, object]]:
    return [seed.event_item(session_ids[i % len(session_ids)]) for i in range(BATCH)]


def _plain_lua(session_ids: list[str]) -> str:
    body = orjson.dumps({"items": _items(session_ids)}).decode()
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


def _datacat(cfg: Config, key: str, workers: int | None, lua: str) -> Figures:
    def prepare(server: Server) -> wrk.Load:
        ids = seed.create_sessions(server.url, SESSIONS)
        return wrk.Load(
            "/api/batch",
            _plain_lua(ids) if lua == "plain" else _ids_lua(ids),
            CONNECTIONS,
            threads=1,
        )

    figures, _ = datacat_runs(cfg, key, workers, prepare, per_request=BATCH)
    return figures


def _schema() -> list[str]:
    """datacat's events table and its indexes, as DDL from its own definitions."""
    dialect = sqlite_dialect.dialect()
    ddl = [str(CreateTable(events).compile(dialect=dialect))]
    ddl += [str(CreateIndex(index).compile(dialect=dialect)) for index in events.indexes]
    return ddl


def sqlite_floor(cfg: Config, path: Path) -> Figures:
    """One run of the raw SQLite reference: events/s for ``cfg.duration_s``."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        for statement in _schema():
            conn.execute(statement)
        data = orjson.dumps(seed.EVENT_DATA).decode()
        # The rows of the same body the datacat run sends: 500 events over 100 sessions.
        template = [(1 + i % SESSIONS, "user_action", data) for i in range(BATCH)]
        insert = "INSERT INTO events (session_pk, ts_us, name, data) VALUES (?, ?, ?, ?)"
        rows = 0
        cpu = time.process_time()
        started = time.perf_counter()
        deadline = started + cfg.duration_s
        while time.perf_counter() < deadline:
            ts_us = time.time_ns() // 1000
            conn.execute("BEGIN")
            conn.executemany(insert, [(pk, ts_us, name, d) for pk, name, d in template])
            conn.execute("COMMIT")
            rows += BATCH
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    finally:
        conn.close()
    return {
        "events_per_s": round(rows / elapsed),
        "events": rows,
        "seconds": round(elapsed, 2),
        "cpu_pct": round(100 * cpu / elapsed, 1),
    }


def sqlite_reference(cfg: Config) -> Figures:
    runs = []
    for index in range(cfg.runs):
        figures = sqlite_floor(cfg, cfg.db(f"batch-sqlite-{index}"))
        emit({"kind": "run", "row": "batch_500", "app": "sqlite", "run": index, **figures})
        runs.append(figures)
    rates = [run["events_per_s"] for run in runs]
    return {
        "events_per_s": round(statistics.median(rates)),
        "events_per_s_each_run": rates,
        "cpu_pct": statistics.median(run["cpu_pct"] for run in runs),
        "runs": len(runs),
    }


def run(cfg: Config, workers: int | None) -> list[Row]:
    figures = _datacat(cfg, "batch_500", workers, "plain")
    refs = {"sqlite": sqlite_reference(cfg)}
    return [
        Row(
            "batch_500",
            f"`POST /api/batch`, {BATCH} events per body, {CONNECTIONS} connections",
            CHECKS,
            {"batch_size": BATCH, **figures},
            rate_text(figures, "events_per_s", "events/s")
            + f" ({figures['req_per_s']:,.0f} batches/s)",
            primary="events_per_s",
            unit="events/s",
            references=refs,
            reference_key="events_per_s",
            workers=int(figures["workers"]),
        )
    ]


def run_with_ids(cfg: Config, workers: int | None) -> list[Row]:
    figures = _datacat(cfg, "batch_500_ids", workers, "ids")
    return [
        Row(
            "batch_500_ids",
            f"`POST /api/batch`, {BATCH} events with client ids + timestamps (the Python "
            f"client's body), {CONNECTIONS} connections",
            [],
            {"batch_size": BATCH, **figures},
            rate_text(figures, "events_per_s", "events/s"),
            primary="events_per_s",
            unit="events/s",
            workers=int(figures["workers"]),
        )
    ]
