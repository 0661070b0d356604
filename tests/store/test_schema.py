"""The Alembic migrations build exactly the schema the code queries."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from datacat.store.repository import Repository
from datacat.store.tables import metadata


async def test_migrated_schema_matches_tables(fresh_repo: Repository) -> None:
    def diff(sync_conn):
        context = MigrationContext.configure(sync_conn)
        return compare_metadata(context, metadata)

    async with fresh_repo.engine.connect() as conn:
        differences = await conn.run_sync(diff)
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
        differences = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), metadata)
        )
    assert after == before and len(after[1]) == 1
    assert differences == []
    stored = await fresh_repo.get_session(session_id)
    assert stored["state"] == {"kept": True}
    assert [e["name"] for e in (await fresh_repo.list_events(session_id)).items] == ["kept"]
