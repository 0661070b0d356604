"""Metric kinds and units; event levels, messages, categories and labels (issue 12).

Every new column is nullable with no server default, and NULL reads as the default
(``gauge`` for a kind, ``info`` for a level): adding a nullable column without a default
only changes the catalogue on both SQLite and PostgreSQL, so the migration is instant
however many rows the tables hold, and rows written by older servers — or by clients
that send none of the new fields, which is most of them — cost no extra bytes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("metrics", sa.Column("kind", sa.String(16), nullable=True))
    op.add_column("metrics", sa.Column("unit", sa.String(64), nullable=True))
    op.add_column("events", sa.Column("level", sa.String(16), nullable=True))
    op.add_column("events", sa.Column("message", sa.Text(), nullable=True))
    op.add_column("events", sa.Column("category", sa.String(256), nullable=True))
    op.add_column("events", sa.Column("labels", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        for column in ("labels", "category", "message", "level"):
            batch.drop_column(column)
    with op.batch_alter_table("metrics") as batch:
        for column in ("unit", "kind"):
            batch.drop_column(column)
