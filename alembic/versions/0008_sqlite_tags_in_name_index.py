"""SQLite: the by-name covering index of metrics also holds the tags.

The explorer's ``group_by=tag:KEY`` reads each point's tags; from the table that was a
row look-up per point beside the index walk, and most of the time of every tag-grouped
series (count per hour by tag over 333,000 points: 514 ms of SQLite, 189 ms from the
index). Inserts cost no more (200,000 rows in 500-row commits, a third tagged: 13.3-16.0
µs per row before, 13.0-13.4 with the tags); the index grows by the tags' text (38 → 43 MB
at 1M points, a third of them tagged).

The partial index of histogram rows gets the tags as well: otherwise, for a tag group,
SQLite's planner preferred the by-name index (it covers all but ``observations``) and read
every point's row to find the few histograms (0.2 → 262 ms).

PostgreSQL keeps its indexes as they are: a btree entry is limited to about 2.7 kB and tags
have no size bound of their own, so a large one would make the insert fail.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_COLUMNS = ["name", "ts_us", "value", "session_pk"]
_HISTOGRAM_COLUMNS = ["name", "ts_us", "session_pk", "value", "observations"]
_HISTOGRAMS = sa.text("observations IS NOT NULL")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_index("ix_metrics_name_ts_tags", "metrics", [*_COLUMNS, "tags"])
    op.drop_index("ix_metrics_name_ts", table_name="metrics")
    op.create_index(
        "ix_metrics_histograms_tags",
        "metrics",
        [*_HISTOGRAM_COLUMNS, "tags"],
        sqlite_where=_HISTOGRAMS,
    )
    op.drop_index("ix_metrics_histograms", table_name="metrics")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_index(
        "ix_metrics_histograms", "metrics", _HISTOGRAM_COLUMNS, sqlite_where=_HISTOGRAMS
    )
    op.drop_index("ix_metrics_histograms_tags", table_name="metrics")
    op.create_index("ix_metrics_name_ts", "metrics", _COLUMNS)
    op.drop_index("ix_metrics_name_ts_tags", table_name="metrics")
