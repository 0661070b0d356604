"""Pre-aggregated histograms (issue 12): an observation count on metrics, bucket rows apart.

A histogram body (``datacat.histogram``) is stored as one ``metrics`` row whose ``value``
is the mean (``sum / count``), so every reader written before histograms still sees one
number per point, with ``observations`` holding ``count`` (NULL on every other row, read as
one observation: the column is nullable with no default, so adding it is instant and plain
points cost no bytes). Its buckets go to ``metric_buckets``, one row per bucket keyed like
the point (session_pk, name, ts_us), so a percentile sums counts ``GROUP BY`` (group, le)
in SQL and interpolates over a result of a few rows. ``le`` NULL is +Inf.

``metric_buckets.session_pk`` has no foreign key: deleting a session must never fail on
its buckets (a pruner that does not know the table yet leaves them behind, unreadable,
since session pks are never reused and every read joins ``sessions``).

The partial index holds histogram rows only; plain inserts skip it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_HISTOGRAMS = sa.text("observations IS NOT NULL")
_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("metrics", sa.Column("observations", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_metrics_histograms",
        "metrics",
        ["name", "ts_us", "session_pk", "value", "observations"],
        sqlite_where=_HISTOGRAMS,
        postgresql_where=_HISTOGRAMS,
    )
    op.create_table(
        "metric_buckets",
        sa.Column("id", _PK, primary_key=True, autoincrement=True),
        sa.Column("session_pk", sa.BigInteger(), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("le", sa.Float(), nullable=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_metric_buckets_name_ts",
        "metric_buckets",
        ["name", "ts_us", "session_pk", "le", "count"],
    )
    op.create_index("ix_metric_buckets_session", "metric_buckets", ["session_pk", "name", "ts_us"])


def downgrade() -> None:
    op.drop_table("metric_buckets")
    op.drop_index("ix_metrics_histograms", table_name="metrics")
    with op.batch_alter_table("metrics") as batch:
        batch.drop_column("observations")
