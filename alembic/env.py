"""Alembic environment: runs on the connection datacat hands over, or on its own engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from datacat.settings import Settings
from datacat.store.tables import include_object_on, metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=include_object_on(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_standalone() -> None:
    from datacat.store.migrate import upgrade_url

    asyncio.run(upgrade_url(Settings().database_url))


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
elif context.is_offline_mode():
    raise SystemExit("offline mode is not supported; run `datacat db upgrade`")
else:
    _run_standalone()
