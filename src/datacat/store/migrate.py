"""Apply the Alembic migrations — the only way datacat's schema is created or changed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from datacat.store.database import WRITE_OPTION, create_engine
from datacat.store.writelock import WriteLock

# Any fixed number: PostgreSQL serialises concurrent start-ups on it.
_MIGRATION_LOCK = 0x0DA7AC47


def alembic_dir() -> Path:
    """The migration scripts: packaged inside a wheel, or ``alembic/`` in a checkout."""
    packaged = Path(__file__).resolve().parent.parent / "_alembic"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "alembic"


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(alembic_dir()))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        conn = await conn.execution_options(**{WRITE_OPTION: True})
        async with conn.begin():
            if conn.dialect.name == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            await conn.run_sync(_upgrade)


async def upgrade_beside_servers(engine: AsyncEngine) -> None:
    """``upgrade`` for a command that may run beside a live server on the same SQLite file.

    Holding the write lock file while migrating makes the server's writer queue for it
    (off its event loop) instead of waiting in SQLite's busy handler, on the loop, while
    Alembic loads its scripts.
    """
    lock = WriteLock.for_url(engine.url.render_as_string(hide_password=False))
    try:
        async with lock.hold():
            await upgrade(engine)
    finally:
        lock.close()


async def upgrade_url(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        await upgrade_beside_servers(engine)
    finally:
        await engine.dispose()
