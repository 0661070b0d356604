"""Engine construction and the per-dialect connection rules.

SQLite (the default) gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` transactions so that
several processes on one file queue for the write lock instead of failing; PostgreSQL gets
a sized asyncpg pool. Everything else in the store is dialect-neutral except the JSON path
expressions in ``statefilter``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

# datacat's own processes queue for SQLite's write lock on a lock file (``writelock``), so
# SQLite's busy handler only ever waits for a foreign writer (a sqlite3 shell, a VACUUM, a
# sibling worker migrating at start-up). Past this a write answers 503 with Retry-After
# instead of hanging. The process's write lock is held while a write waits, so a request
# may wait behind two of these (the sweeper's, then the writer's): 6 s, within the Python
# client's 10 s timeout.
BUSY_TIMEOUT_MS = 3000

# Chosen for an append-heavy log on one file (README, "How it stores things"):
# WAL lets readers run beside the writer; synchronous=NORMAL is durable across process
# crashes under WAL (a power cut can lose the last commits, never corrupt the file);
# an 8 MiB page cache per connection (the pool may hold 20) keeps hot index pages without
# inflating the server's memory, and the OS page cache serves the rest. No mmap: mapped
# pages count towards the server's RSS.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA cache_size=-8192",
    "PRAGMA mmap_size=0",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA foreign_keys=OFF",
)


WRITE_OPTION = "datacat_write"
"""Execution option marking a connection that will write (see ``_on_begin``)."""

# PostgreSQL error classes (SQLSTATE) that say "not now" rather than "not this": 08
# connection exception, 53 insufficient resources (disk full, out of memory, too many
# connections), 57 operator intervention (shutting down, cannot connect now); and lock
# not available, serialization failure and deadlock once the writer's retries ran out.
_UNAVAILABLE_CLASSES = ("08", "53", "57")
_UNAVAILABLE_STATES = ("55P03", "40001", "40P01")


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means "retry later" (the API answers 503 with Retry-After)
    rather than a bug (500). SQLite's locked, busy, full and I/O errors and lost
    connections arrive as OperationalError or InterfaceError; asyncpg's server errors
    (a full disk among them) arrive as a plain DBAPIError that carries the SQLSTATE."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError):
        state = str(getattr(exc.orig, "sqlstate", None) or "")
        return state[:2] in _UNAVAILABLE_CLASSES or state in _UNAVAILABLE_STATES
    return False


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _json_loads(value: Any) -> Any:
    """SQLite gives a JSON column numeric affinity: a document that is a bare number is
    stored, and read back, as that number rather than as its text."""
    if isinstance(value, int | float):
        return value
    return orjson.loads(value)


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            parsed,
            json_serializer=_json_dumps,
            json_deserializer=_json_loads,
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _install_sqlite_rules(engine)
        return engine
    return create_async_engine(
        parsed,
        json_serializer=_json_dumps,
        json_deserializer=_json_loads,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
    )


def create_sync_writer(engine: AsyncEngine) -> Engine | None:
    """For a SQLite file, a blocking engine on the same file for the group writer (see
    ``Writer._run_transaction``); None for PostgreSQL, whose writer stays on asyncpg, and
    for an in-memory database, which only the async engine's own connection can see."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or (url.database or ":memory:") == ":memory:":
        return None
    sync = create_sync_engine(
        url.set(drivername="sqlite+pysqlite"),
        json_serializer=_json_dumps,
        json_deserializer=_json_loads,
        # One writer per process, one transaction at a time: one connection, kept open.
        poolclass=StaticPool,
    )
    _install_sqlite_rules(sync, always_write=True)
    return sync


def _install_sqlite_rules(engine: AsyncEngine | Engine, always_write: bool = False) -> None:
    target = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(target, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so we can say BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        # The group writer's connection (``always_write``) blocks the event loop while it
        # waits, for at most BUSY_TIMEOUT_MS, and is not retried (see Writer._transaction).
        cursor.close()

    @event.listens_for(target, "begin")
    def _on_begin(connection: Any) -> None:
        # A writer takes the lock up front (IMMEDIATE): its read-then-write transaction can
        # never fail half-way with SQLITE_BUSY because another process wrote in between.
        # Readers stay DEFERRED so they never queue behind writers.
        if always_write or connection.get_execution_options().get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")
