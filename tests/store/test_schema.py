"""The Alembic migrations build exactly the schema the code queries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from datacat.fingerprint import exception_marks
from datacat.store.database import create_engine
from datacat.store.migrate import alembic_dir, upgrade
from datacat.store.repository import Repository
from datacat.store.tables import include_object_on, metadata
from support import fresh_database


def _schema_diff(sync_conn: Connection) -> list[Any]:
    """Alembic's differences between the database and ``tables``, as ``alembic/env.py``
    compares them (another backend's indexes left out)."""
    context = MigrationContext.configure(
        sync_conn, opts={"include_object": include_object_on(sync_conn.dialect.name)}
    )
    differences: list[Any] = compare_metadata(context, metadata)
    return differences


async def test_migrated_schema_matches_tables(fresh_repo: Repository) -> None:
    async with fresh_repo.engine.connect() as conn:
        differences = await conn.run_sync(_schema_diff)
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert differences == []
    assert {"sessions", "events", "metrics", "state_history", "alembic_version"} <= tables


async def test_upgrade_twice_is_a_no_op(fresh_repo: Repository) -> None:
    """Every start-up upgrades: on a migrated database that must change nothing, data included."""
    from datacat.store.migrate import upgrade
    from datacat.store.ops import CreateSession, LogEvent, UpdateState

    session_id = await fresh_repo.create_session(CreateSession(fresh_repo.new_session_id()))
    await fresh_repo.write(UpdateState(session_id, {"kept": True}))
    await fresh_repo.write(LogEvent(session_id, "kept"))

    def snapshot(sync_conn):
        inspector = inspect(sync_conn)
        columns = {
            table: [(c["name"], str(c["type"])) for c in inspector.get_columns(table)]
            for table in sorted(inspector.get_table_names())
        }
        versions = sync_conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        return columns, versions

    async with fresh_repo.engine.connect() as conn:
        before = await conn.run_sync(snapshot)
    await upgrade(fresh_repo.engine)
    await upgrade(fresh_repo.engine)
    async with fresh_repo.engine.connect() as conn:
        after = await conn.run_sync(snapshot)
        differences = await conn.run_sync(_schema_diff)
    assert after == before and len(after[1]) == 1
    assert differences == []
    stored = await fresh_repo.get_session(session_id)
    assert stored["state"] == {"kept": True}
    assert [e["name"] for e in (await fresh_repo.list_events(session_id)).items] == ["kept"]


async def test_upgrade_groups_exceptions_stored_before_fingerprints(
    backend: str, tmp_path: Path
) -> None:
    """Migration 0005 fingerprints the exception events a 0004 database already holds."""
    data = {
        "type": "KeyError",
        "message": "'probe'",
        "fatal": True,
        "traceback": [
            "Traceback (most recent call last):",
            '  File "/srv/app/probe/io.py", line 12, in load',
            "KeyError: 'probe'",
        ],
    }
    with fresh_database(backend, tmp_path, "pre0005") as url:
        json_param = ":data" if backend == "sqlite" else "CAST(:data AS jsonb)"
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_upgrade_to, "0004")
                await conn.execute(
                    text(
                        "INSERT INTO sessions (pk, id, created_us, updated_us, last_seen_us,"
                        " active, status, state) VALUES (1, :id, 1, 1, 1, true, 'active', '{}')"
                    ),
                    {"id": "0193a5f2-7c1e-7d4b-9a3e-2f5a8b7c6d10"},
                )
                for name in ("exception", "exception", "started"):
                    await conn.execute(
                        text(
                            "INSERT INTO events (session_pk, ts_us, name, data)"
                            f" VALUES (1, 1, :name, {json_param})"
                        ),
                        {"name": name, "data": json.dumps(data)},
                    )
            await upgrade(engine)
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        text("SELECT name, fingerprint, fatal FROM events ORDER BY id")
                    )
                ).all()
        finally:
            await engine.dispose()
    expected, fatal = exception_marks("exception", data)
    assert expected is not None and fatal is True
    assert [tuple(row) for row in rows] == [
        ("exception", expected, True),
        ("exception", expected, True),
        ("started", None, None),
    ]


def _upgrade_to(connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(alembic_dir()))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
