"""Webhooks on trouble (issue 13): hooks, the transitions journal, the outbox, cursors.

See ``datacat.store.hooktables`` for what each table is for. All four are new and empty,
so the migration is instant on any database.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_PENDING = sa.text("delivered_us IS NULL AND failed_us IS NULL")


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("kinds", sa.String(128), nullable=False),
        sa.Column("product", sa.String(256), nullable=True),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "session_transitions",
        sa.Column("id", _PK, primary_key=True, autoincrement=True),
        sa.Column("session_pk", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "webhook_outbox",
        sa.Column("id", _PK, primary_key=True, autoincrement=True),
        sa.Column("hook_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("dedupe_key", sa.String(128), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_us", sa.BigInteger, nullable=False),
        sa.Column("delivered_us", sa.BigInteger, nullable=True),
        sa.Column("failed_us", sa.BigInteger, nullable=True),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index(
        "ux_webhook_outbox_dedupe", "webhook_outbox", ["hook_id", "dedupe_key"], unique=True
    )
    op.create_index(
        "ix_webhook_outbox_due",
        "webhook_outbox",
        ["next_attempt_us"],
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )
    op.create_table(
        "webhook_cursors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("webhook_cursors")
    op.drop_index("ix_webhook_outbox_due", table_name="webhook_outbox")
    op.drop_index("ux_webhook_outbox_dedupe", table_name="webhook_outbox")
    op.drop_table("webhook_outbox")
    op.drop_table("session_transitions")
    op.drop_table("webhooks")
