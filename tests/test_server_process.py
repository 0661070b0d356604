"""A real ``datacat serve`` process on a real SQLite file: restarts keep everything."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import httpx

from serving import PG_ADMIN_URL, pg_database_url, serve


def sqlite(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def test_killed_server_restarted_on_the_same_file_keeps_everything(tmp_path: Path) -> None:
    db = tmp_path / "restart.db"
    with serve(sqlite(db)) as url:
        session_id = httpx.post(f"{url}/api/sessions").json()["session_id"]
        base = f"{url}/api/sessions/{session_id}"
        httpx.post(f"{base}/state", json={"phase": {"a": 1}})
        httpx.post(f"{base}/state", json={"phase": {"b": 2}})
        for i in range(20):
            httpx.post(f"{base}/events", json={"name": f"e{i}", "data": {"i": i}})
            httpx.post(f"{base}/metrics", json={"name": "m", "value": i})
        before = httpx.get(base).json()
        # SIGKILL, not a polite stop: every acknowledged write must already be on disk.
    with serve(sqlite(db)) as url:
        after = httpx.get(f"{url}/api/sessions/{session_id}").json()
        assert after == before
        assert len(after["events"]) == 20 and len(after["metrics"]) == 20
        assert after["state"] == {"phase": {"a": 1, "b": 2}}
        history = httpx.get(f"{url}/api/sessions/{session_id}/state/history").json()
        assert len(history["items"]) == 2


def test_two_workers_on_one_sqlite_file_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    db = tmp_path / "workers.db"
    with serve(sqlite(db), "--workers", "2") as url, httpx.Client(base_url=url) as http:
        session_id = http.post("/api/sessions").json()["session_id"]
        for i in range(200):
            item = {"name": "w", "value": i, "id": f"m{i}"}
            assert http.post(f"/api/sessions/{session_id}/metrics", json=item).status_code == 200
            if i % 3 == 0:  # a retry of an acknowledged write, as a client would send it
                http.post(f"/api/sessions/{session_id}/metrics", json=item)
            http.post(f"/api/sessions/{session_id}/state", json={"k": {f"k{i}": i}})
        session = http.get(f"/api/sessions/{session_id}").json()
        assert sorted(m["value"] for m in session["metrics"]) == list(range(200))
        assert session["state"]["k"] == {f"k{i}": i for i in range(200)}


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
    name = f"datacat_lost_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        with serve(pg_database_url(name)) as url:
            session_id = httpx.post(f"{url}/api/sessions").json()["session_id"]
            # The database restarts under the server: every pooled connection dies.
            asyncio.run(
                admin(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{name}'"
                )
            )
            lost = httpx.post(f"{url}/api/sessions/{session_id}/events", json={"name": "x"})
            assert lost.status_code == 503, lost.text
            assert lost.headers["retry-after"] == "1" and "unavailable" in lost.json()["detail"]
            retry = httpx.post(f"{url}/api/sessions/{session_id}/events", json={"name": "x"})
            assert retry.status_code == 200
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
