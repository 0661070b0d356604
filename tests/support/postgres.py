"""The suite's PostgreSQL: where it is, and throwaway databases that are always dropped.

Every run creates its own databases under a random name, so runs on one server (or a
developer's data on it) never see each other; ``WITH (FORCE)`` drops a database even
when a killed server process left connections behind.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")

BACKENDS = ("sqlite", "postgresql")
"""The databases every storage, API and web test runs on."""

PG_ADMIN_URL = os.environ.get(
    "DATACAT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
"""The server the suite creates its databases on (DATACAT_TEST_PG_URL overrides)."""


def pg_database_url(name: str) -> str:
    """The SQLAlchemy (asyncpg) URL of database ``name`` on the suite's PostgreSQL."""
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _create(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    return name


async def _drop(name: str) -> None:
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def async_throwaway_database(prefix: str) -> AsyncIterator[str]:
    """A new empty database named ``<prefix>_<random>``: yields its URL, drops it after."""
    name = await _create(prefix)
    try:
        yield pg_database_url(name)
    finally:
        await _drop(name)


def _run_apart(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on a loop in a thread of its own: the calling thread may already
    have a loop running (Playwright's sync API keeps one on the main thread)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """:func:`async_throwaway_database` for synchronous code (a sync fixture)."""
    name = _run_apart(_create(prefix))
    try:
        yield pg_database_url(name)
    finally:
        _run_apart(_drop(name))


@contextmanager
def fresh_database(backend: str, folder: Path, name: str) -> Iterator[str]:
    """An empty database of ``backend``: the SQLite file ``folder/name.db``, or a throwaway
    PostgreSQL database, for tests that must not share the suite's (keys close it)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / f'{name}.db'}"
        return
    with throwaway_database(f"datacat_{name}") as url:
        yield url
