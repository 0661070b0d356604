"""A real ``datacat serve`` process: several workers on one SQLite file, the CLI, a lost
database connection. (Crash-and-restart durability is tests/test_durability.py.)"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx

from support import PG_ADMIN_URL, serve, throwaway_database


def sqlite(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def _drive_workers(url: str) -> tuple[set[str], list[str]]:
    """Many connections at once, so the kernel spreads them over the workers; every write
    carries a client id and a third are sent twice, as a retrying client would."""
    writers: set[str] = set()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=0)
    clients = [httpx.AsyncClient(base_url=url, limits=limits) for _ in range(24)]

    async def post(client: httpx.AsyncClient, path: str, body: object = None) -> httpx.Response:
        response = await client.post(path, json=body)
        assert response.status_code == 200, response.text
        writers.add(response.headers["x-datacat-worker"])
        return response

    async def one_client(index: int, client: httpx.AsyncClient) -> str:
        session_id = (await post(client, "/api/sessions")).json()["session_id"]
        base = f"/api/sessions/{session_id}"
        for i in range(25):
            item = {"name": "w", "value": i, "id": f"m{i}"}
            await post(client, f"{base}/metrics", item)
            if i % 3 == 0:
                await post(client, f"{base}/metrics", item)
            await post(client, f"{base}/state", {"k": {f"k{i}": i}})
            await post(client, f"{base}/events", {"name": "e", "data": i, "id": f"e{i}"})
        return session_id

    try:
        sessions = await asyncio.gather(*(one_client(i, c) for i, c in enumerate(clients)))
    finally:
        for client in clients:
            await client.aclose()
    return writers, list(sessions)


def test_two_workers_on_one_sqlite_file_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    db = tmp_path / "workers.db"
    env = {"DATACAT_WORKER_HEADER": "true"}
    with serve(sqlite(db), "--workers", "2", env=env) as url:
        writers, session_ids = asyncio.run(_drive_workers(url))
        # Both processes wrote: the lock between them was really contended.
        assert len(writers) == 2, writers
        for session_id in session_ids:
            session = httpx.get(f"{url}/api/sessions/{session_id}").json()
            assert sorted(m["value"] for m in session["metrics"]) == list(range(25))
            assert [e["data"] for e in session["events"]] == list(range(25))
            assert session["state"]["k"] == {f"k{i}": i for i in range(25)}


def test_importing_the_client_face_does_not_import_the_server() -> None:
    code = (
        "import sys, datacat; datacat.create_session; "
        "print('fastapi' in sys.modules, 'sqlalchemy' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_db_upgrade_command_creates_the_schema(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "datacat.cli",
            "db",
            "upgrade",
            "--database-url",
            f"sqlite+aiosqlite:///{db}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "database at head" in result.stdout and db.exists()


def test_a_lost_database_connection_is_a_503_then_recovers() -> None:
    async def terminate_connections(name: str) -> None:
        connection = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await connection.execute(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            )
        finally:
            await connection.close()

    with throwaway_database("datacat_lost") as database_url, serve(database_url) as url:
        session_id = httpx.post(f"{url}/api/sessions").json()["session_id"]
        # The database restarts under the server: every pooled connection dies.
        asyncio.run(terminate_connections(database_url.rsplit("/", 1)[1]))
        lost = httpx.post(f"{url}/api/sessions/{session_id}/events", json={"name": "x"})
        assert lost.status_code == 503, lost.text
        assert lost.headers["retry-after"] == "1" and "unavailable" in lost.json()["detail"]
        retry = httpx.post(f"{url}/api/sessions/{session_id}/events", json={"name": "x"})
        assert retry.status_code == 200
