"""Shared fixtures: a real database per backend (SQLite file, PostgreSQL) and the app on it.

Every test that takes ``backend`` (directly or through ``client`` / ``repo``) runs once on
SQLite and once on PostgreSQL. PostgreSQL tests get a throwaway database created for this
run and dropped at the end; set DATACAT_TEST_PG_URL to point elsewhere (default: the local
server as ``postgres`` on 127.0.0.1:5432).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from datacat.api.fastpath import FastPath
from datacat.app import create_app
from datacat.settings import Settings
from datacat.store.migrate import upgrade
from datacat.store.repository import Repository
from support import BACKENDS, async_throwaway_database

_exercised: Counter[str] = Counter()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "datacat-test.db"
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    async with async_throwaway_database("datacat_test") as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")


@pytest.fixture(autouse=True)
def _count_backend(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    # The web suite has a backend parameter of its own (see tests/web/conftest.py).
    for name in ("backend", "web_backend"):
        if name in request.fixturenames:
            _exercised[request.getfixturevalue(name)] += 1


def settings_for(url: str, **overrides: object) -> Settings:
    return Settings(database_url=url, sweep_interval_s=0.2, **overrides)


@pytest.fixture(scope="session")
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    """The real app on the backend's database, with its lifespan running.

    httpx's ASGITransport does not run lifespans, so the fixture runs it itself.
    """
    application = create_app(settings_for(database_url))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://datacat") as http:
        yield http


@pytest.fixture(scope="session")
async def plain(app: FastAPI, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The same service without the fast path, on the same database as ``client``: tests
    that both serving paths answer alike send each request to the two."""
    application = create_app(Settings(database_url=database_url), fast_path=False)
    assert not any(m.cls is FastPath for m in application.user_middleware)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://datacat") as http:
            yield http


@pytest.fixture(scope="session")
def repo(app: FastAPI) -> Repository:
    return app.state.repository


@pytest.fixture
async def fresh_repo(backend: str, tmp_path: Path) -> AsyncIterator[Repository]:
    """A repository on an empty database of its own, for tests that count globally."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        repository = Repository.from_url(url)
        await upgrade(repository.engine)
        await repository.start()
        yield repository
        await repository.close()
        return
    async with async_throwaway_database("datacat_fresh") as url:
        repository = Repository.from_url(url)
        try:
            await upgrade(repository.engine)
            await repository.start()
            yield repository
        finally:
            await repository.close()


@pytest.fixture
async def session_id(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/sessions")
    assert response.status_code == 200
    return response.json()["session_id"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _exercised:
        counts = ", ".join(f"{name}: {_exercised[name]} tests" for name in BACKENDS)
        terminalreporter.write_line(f"database backends exercised — {counts}")
