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
    from datacat.store.migrate import upgrade

    await upgrade(fresh_repo.engine)
    await upgrade(fresh_repo.engine)


async def test_session_cache_starts_over_past_its_limit(
    fresh_repo: Repository, monkeypatch
) -> None:
    from datacat.store import writer
    from datacat.store.ops import CreateSession, LogEvent

    monkeypatch.setattr(writer, "PK_CACHE_LIMIT", 3)
    ids = [fresh_repo.new_session_id() for _ in range(6)]
    for session_id in ids:
        await fresh_repo.create_session(CreateSession(session_id))
    # Every session is still found (from the database) once the cache has been emptied.
    for session_id in ids:
        await fresh_repo.write(LogEvent(session_id, "after-reset"))
    assert len(fresh_repo._writer._pks) <= 6
    for session_id in ids:
        assert len((await fresh_repo.get_session_full(session_id))["events"]) == 1
