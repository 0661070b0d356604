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
