"""Initial schema: sessions, events, metrics, state history, metric names.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Pk = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("pk", Pk, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.Column("ended_us", sa.BigInteger, nullable=True),
        sa.Column("last_seen_us", sa.BigInteger, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", Json, nullable=False),
        sa.Column("product", sa.String(256), nullable=True),
        sa.Column("version", sa.String(256), nullable=True),
        sa.Column("host", sa.String(256), nullable=True),
        sa.Column("metadata", Json, nullable=True),
        sa.Column("heartbeat_timeout_s", sa.Float, nullable=True),
    )
    op.create_index("ix_sessions_created", "sessions", ["created_us"])
    op.create_index("ix_sessions_updated", "sessions", ["updated_us"])
    op.create_index("ix_sessions_status", "sessions", ["status"])
    op.create_index("ix_sessions_product", "sessions", ["product"])

    op.create_table(
        "events",
        sa.Column("id", Pk, primary_key=True, autoincrement=True),
        sa.Column("session_pk", sa.BigInteger, sa.ForeignKey("sessions.pk"), nullable=False),
        sa.Column("ts_us", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("data", Json, nullable=True),
        sa.Column("client_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_events_session", "events", ["session_pk", "id"])
    op.create_index("ix_events_ts", "events", ["ts_us"])
    op.create_index(
        "ux_events_client_id",
        "events",
        ["session_pk", "client_id"],
        unique=True,
        sqlite_where=sa.text("client_id IS NOT NULL"),
        postgresql_where=sa.text("client_id IS NOT NULL"),
    )

    op.create_table(
        "metrics",
        sa.Column("id", Pk, primary_key=True, autoincrement=True),
        sa.Column("session_pk", sa.BigInteger, sa.ForeignKey("sessions.pk"), nullable=False),
        sa.Column("ts_us", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("tags", Json, nullable=True),
        sa.Column("client_id", sa.String(64), nullable=True),
    )
    # Both carry value (and the first session_pk) so series queries read only the index.
    op.create_index("ix_metrics_name_ts", "metrics", ["name", "ts_us", "value", "session_pk"])
    op.create_index(
        "ix_metrics_session_name_ts", "metrics", ["session_pk", "name", "ts_us", "value"]
    )
    op.create_index(
        "ux_metrics_client_id",
        "metrics",
        ["session_pk", "client_id"],
        unique=True,
        sqlite_where=sa.text("client_id IS NOT NULL"),
        postgresql_where=sa.text("client_id IS NOT NULL"),
    )

    op.create_table(
        "state_history",
        sa.Column("id", Pk, primary_key=True, autoincrement=True),
        sa.Column("session_pk", sa.BigInteger, sa.ForeignKey("sessions.pk"), nullable=False),
        sa.Column("ts_us", sa.BigInteger, nullable=False),
        sa.Column("patch", Json, nullable=False),
        sa.Column("client_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_state_history_session", "state_history", ["session_pk", "id"])
    op.create_index(
        "ux_state_history_client_id",
        "state_history",
        ["session_pk", "client_id"],
        unique=True,
        sqlite_where=sa.text("client_id IS NOT NULL"),
        postgresql_where=sa.text("client_id IS NOT NULL"),
    )

    op.create_table("metric_names", sa.Column("name", sa.String(256), primary_key=True))


def downgrade() -> None:
    op.drop_table("metric_names")
    op.drop_table("state_history")
    op.drop_table("metrics")
    op.drop_table("events")
    op.drop_table("sessions")
