"""Exception fingerprints on events (issue 12): grouping exceptions across sessions.

An ``exception`` event gets the fingerprint of its cause (type + normalised in-app frames,
computed at ingest by ``datacat.fingerprint``) and whether it was fatal. Both columns are
nullable with no default, so the migration is instant and ordinary events cost no bytes.
The partial index holds only exception events and covers the group listing (counts,
sessions, first/last seen, fatal) without touching the events table.

Exception events already stored are fingerprinted here too (one walk of the events by id,
``datacat.store.exceptions.backfill``), so groups cover a database's whole history, not
only what arrives after the upgrade. It reads and writes only ``id``, ``name``, ``data``,
``fingerprint`` and ``fatal``, which later migrations leave as they are.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ONLY_EXCEPTIONS = sa.text("fingerprint IS NOT NULL")


def upgrade() -> None:
    op.add_column("events", sa.Column("fingerprint", sa.String(40), nullable=True))
    op.add_column("events", sa.Column("fatal", sa.Boolean(), nullable=True))
    op.create_index(
        "ix_events_fingerprint",
        "events",
        ["fingerprint", "ts_us", "session_pk", "fatal"],
        sqlite_where=_ONLY_EXCEPTIONS,
        postgresql_where=_ONLY_EXCEPTIONS,
    )
    from datacat.store.exceptions import backfill

    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_events_fingerprint", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("fatal")
        batch.drop_column("fingerprint")
