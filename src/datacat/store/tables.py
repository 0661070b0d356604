"""The schema as SQLAlchemy Core tables.

Alembic migrations create it (``alembic/versions``); these definitions are what queries are
built from and must stay in step with the latest migration (a test compares them).

Times are integer microseconds since the Unix epoch (UTC): compact, index-friendly and the
same on SQLite and PostgreSQL. Rows in events/metrics/state_history point at the session's
integer ``pk`` rather than repeating its 36-character uuid, which keeps every row small.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

JsonType = JSON().with_variant(JSONB(), "postgresql")
# SQLite's INTEGER PRIMARY KEY is the rowid only when the type is exactly INTEGER.
PkType = BigInteger().with_variant(Integer(), "sqlite")

sessions = Table(
    "sessions",
    metadata,
    Column("pk", PkType, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Column("ended_us", BigInteger, nullable=True),
    Column("last_seen_us", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("state", JsonType, nullable=False),
    Column("product", String(256), nullable=True),
    Column("version", String(256), nullable=True),
    Column("host", String(256), nullable=True),
    Column("metadata", JsonType, nullable=True),
    Column("heartbeat_timeout_s", Float, nullable=True),
    Index("ix_sessions_created", "created_us"),
    Index("ix_sessions_updated", "updated_us"),
    Index("ix_sessions_status", "status"),
    Index("ix_sessions_product", "product"),
    # A deleted session's pk is never handed to a new one (migration 0003): per-process
    # caches keyed by pk (the writer's, ``chunkcache``) cannot be told of deletions.
    sqlite_autoincrement=True,
)

events = Table(
    "events",
    metadata,
    Column("id", PkType, primary_key=True, autoincrement=True),
    Column("session_pk", BigInteger, ForeignKey("sessions.pk"), nullable=False),
    Column("ts_us", BigInteger, nullable=False),
    Column("name", String(256), nullable=False),
    Column("data", JsonType, nullable=True),
    Column("client_id", String(64), nullable=True),
    # Migration 0004: NULL reads as the default (level "info"), so old rows need no rewrite.
    Column("level", String(16), nullable=True),
    Column("message", Text, nullable=True),
    Column("category", String(256), nullable=True),
    Column("labels", JsonType, nullable=True),
    # Migration 0005: set on ``exception`` events only (``datacat.fingerprint``).
    Column("fingerprint", String(40), nullable=True),
    Column("fatal", Boolean, nullable=True),
    Index("ix_events_session", "session_pk", "id"),
    Index("ix_events_ts", "ts_us"),
    Index(
        "ux_events_client_id",
        "session_pk",
        "client_id",
        unique=True,
        sqlite_where=text("client_id IS NOT NULL"),
        postgresql_where=text("client_id IS NOT NULL"),
    ),
    Index(
        "ix_events_fingerprint",
        "fingerprint",
        "ts_us",
        "session_pk",
        "fatal",
        sqlite_where=text("fingerprint IS NOT NULL"),
        postgresql_where=text("fingerprint IS NOT NULL"),
    ),
)

BACKEND_ONLY: dict[str, str] = {}
"""Index name → the one backend it exists on (filled by ``_only_on``)."""


def _only_on(dialect: str, index: Index) -> Index:
    """``index`` created on ``dialect`` only, and known to ``include_object_on`` as such."""
    BACKEND_ONLY[str(index.name)] = dialect
    return index.ddl_if(dialect=dialect)


_HISTOGRAM_COLUMNS = ("name", "ts_us", "session_pk", "value", "observations")
metrics = Table(
    "metrics",
    metadata,
    Column("id", PkType, primary_key=True, autoincrement=True),
    Column("session_pk", BigInteger, ForeignKey("sessions.pk"), nullable=False),
    Column("ts_us", BigInteger, nullable=False),
    Column("name", String(256), nullable=False),
    Column("value", Float, nullable=False),
    Column("tags", JsonType, nullable=True),
    Column("client_id", String(64), nullable=True),
    # Migration 0004: NULL reads as the default (kind "gauge"), so old rows need no rewrite.
    Column("kind", String(16), nullable=True),
    Column("unit", String(64), nullable=True),
    # Migration 0006: a histogram's observation count (its value is the mean); NULL on
    # every other row, read as one observation.
    Column("observations", BigInteger, nullable=True),
    # Covering indexes: the explorer's aggregations never touch the table itself. On
    # SQLite the by-name one (and the histograms' below) also holds the tags, so a
    # ``tag:KEY`` group is read from the index (migration 0008; count per hour by tag over
    # 333k points: 514 → 189 ms of SQLite, inserts unchanged); PostgreSQL cannot keep
    # arbitrary-size ``jsonb`` in a btree entry, so its indexes stay without them
    # (``BACKEND_ONLY``).
    _only_on("postgresql", Index("ix_metrics_name_ts", "name", "ts_us", "value", "session_pk")),
    _only_on(
        "sqlite", Index("ix_metrics_name_ts_tags", "name", "ts_us", "value", "session_pk", "tags")
    ),
    Index("ix_metrics_session_name_ts", "session_pk", "name", "ts_us", "value"),
    Index(
        "ux_metrics_client_id",
        "session_pk",
        "client_id",
        unique=True,
        sqlite_where=text("client_id IS NOT NULL"),
        postgresql_where=text("client_id IS NOT NULL"),
    ),
    _only_on(
        "postgresql",
        Index(
            "ix_metrics_histograms",
            *_HISTOGRAM_COLUMNS,
            postgresql_where=text("observations IS NOT NULL"),
        ),
    ),
    # With the tags too on SQLite, so that for a tag group this index still covers the
    # histogram rows: else the planner took the by-name one and read every point's row.
    _only_on(
        "sqlite",
        Index(
            "ix_metrics_histograms_tags",
            *_HISTOGRAM_COLUMNS,
            "tags",
            sqlite_where=text("observations IS NOT NULL"),
        ),
    ),
)

# A histogram's buckets (migration 0006), keyed like its metrics row (session_pk, name,
# ts_us): percentiles sum ``count`` GROUP BY (group, le) over the covering index and
# interpolate over the few rows that gives (``datacat.histogram``). ``le`` NULL is +Inf;
# ``count`` is that bucket's own count, not cumulative. No foreign key on purpose: deleting
# a session never fails on its buckets, and reads always join ``sessions``.
metric_buckets = Table(
    "metric_buckets",
    metadata,
    Column("id", PkType, primary_key=True, autoincrement=True),
    Column("session_pk", BigInteger, nullable=False),
    Column("ts_us", BigInteger, nullable=False),
    Column("name", String(256), nullable=False),
    Column("le", Float, nullable=True),
    Column("count", BigInteger, nullable=False),
    Index("ix_metric_buckets_name_ts", "name", "ts_us", "session_pk", "le", "count"),
    Index("ix_metric_buckets_session", "session_pk", "name", "ts_us"),
)

state_history = Table(
    "state_history",
    metadata,
    Column("id", PkType, primary_key=True, autoincrement=True),
    Column("session_pk", BigInteger, ForeignKey("sessions.pk"), nullable=False),
    Column("ts_us", BigInteger, nullable=False),
    Column("patch", JsonType, nullable=False),
    Column("client_id", String(64), nullable=True),
    Index("ix_state_history_session", "session_pk", "id"),
    Index(
        "ux_state_history_client_id",
        "session_pk",
        "client_id",
        unique=True,
        sqlite_where=text("client_id IS NOT NULL"),
        postgresql_where=text("client_id IS NOT NULL"),
    ),
)

# Every metric name ever logged, so the explorer's picker never scans the metrics table.
metric_names = Table(
    "metric_names",
    metadata,
    Column("name", String(256), primary_key=True),
)

# API keys (``datacat keys``): only a SHA-256 of each key is kept; ``prefix`` is the part of
# the key shown to people so they can tell keys apart and revoke one.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("prefix", String(32), nullable=False, unique=True),
    Column("hash", String(64), nullable=False, unique=True),
    Column("scope", String(16), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("last_used_us", BigInteger, nullable=True),
    Column("revoked_us", BigInteger, nullable=True),
)

# Values the service generates once and every process must share (the cookie secret).
service_settings = Table(
    "service_settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


def include_object_on(dialect: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """Alembic's ``include_object`` hook for ``dialect``: an index that belongs to another
    backend is left out of the comparison (Alembic does not read ``ddl_if``)."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return type_ != "index" or BACKEND_ONLY.get(name or "", dialect) == dialect

    return include


# Webhook tables (issue 13) live in their own module on the same metadata.
from datacat.store import hooktables as _hooktables  # noqa: E402, F401
