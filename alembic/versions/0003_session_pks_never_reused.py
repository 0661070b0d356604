"""Session pks are never reused on SQLite (AUTOINCREMENT), now that sessions can be deleted.

Without AUTOINCREMENT SQLite gives a new row the largest rowid + 1, so deleting the newest
session hands its pk to the next one. Every process keeps caches keyed by pk (the group
writer's session id → pk map, the finished JSON of events in ``chunkcache``) and another
process cannot be told that a pk now names a different session; a pk that is never reused
makes a stale entry merely unused. PostgreSQL's sequences never reuse values already.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _rebuild_sessions(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "sessions", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass


def upgrade() -> None:
    _rebuild_sessions(True)


def downgrade() -> None:
    _rebuild_sessions(False)
