"""Client tests run against a real ``datacat serve`` process on a temporary SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from datacat_client import DatacatClient, Session
from support import FAST, ServerProcess, datacat_server


def sqlite_server(db: Path) -> ServerProcess:
    """A server whose sweeper runs often, so liveness tests see hung sessions quickly."""
    env = {"DATACAT_SWEEP_INTERVAL_S": "0.2"}
    return datacat_server(f"sqlite+aiosqlite:///{db}", env=env)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with sqlite_server(tmp_path_factory.mktemp("client-server") / "x.db") as process:
        yield process


@pytest.fixture(scope="session")
def url(server: ServerProcess) -> str:
    return server.url


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server this test alone may stop (SIGKILL) and start again on the same file."""
    with sqlite_server(tmp_path / "own.db") as process:
        yield process


@pytest.fixture
def client(url: str) -> Iterator[DatacatClient]:
    with DatacatClient(url, batch=FAST) as c:
        yield c


@pytest.fixture
def session(client: DatacatClient) -> Session:
    return Session(client, client.register_session())


@pytest.fixture
def raw(url: str) -> Iterator[httpx.Client]:
    """Plain httpx, to check what the server stored without going through the client."""
    with httpx.Client(base_url=url, timeout=30) as http:
        yield http
