"""The metrics explorer's query — what the seed's web UI computed in Go, done in SQL.

Sessions are filtered first (state filter, product), then their points are read through
the (session_pk, name, ts_us) index, so the cost follows the matching sessions rather
than the size of the whole metrics table. Statistics are aggregated in SQL over every
matching point; only the points shown are capped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, Float, Numeric, cast, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from datacat.store.statefilter import StateFilter
from datacat.store.tables import metrics, sessions


class Aggregation(str, Enum):
    all = "all"
    peak = "peak"
    avg = "avg"
    min = "min"


def _mean(column: ColumnElement[float], dialect: str) -> ColumnElement[float]:
    """PostgreSQL's ``avg(float8)`` also sums the squares (for variance) and fails with
    "value out of range" once they pass 1e308 — any value above 1e154 did that. Averaging
    as ``numeric`` cannot overflow; SQLite's ``avg`` never raised."""
    if dialect == "postgresql":
        return cast(func.avg(cast(column, Numeric)), Float)
    return func.avg(column)


_PER_SESSION: dict[Aggregation, Callable[[ColumnElement[float], str], ColumnElement[float]]] = {
    Aggregation.peak: lambda column, _: func.max(column),
    Aggregation.avg: _mean,
    Aggregation.min: lambda column, _: func.min(column),
}


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    name: str
    aggregation: Aggregation = Aggregation.all
    state: StateFilter | None = None
    product: str | None = None
    session_id: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    limit: int = 5000


@dataclass(frozen=True, slots=True)
class SeriesResult:
    points: list[dict[str, Any]]
    peak: float | None
    average: float | None
    min: float | None
    sessions_matched: int
    points_matched: int
    truncated: bool


async def run_series(
    conn: AsyncConnection, query: SeriesQuery, state_condition: ColumnElement[bool] | None
) -> SeriesResult:
    dialect = conn.dialect.name
    point_conditions: list[ColumnElement[bool]] = [metrics.c.name == query.name]
    if query.since_us is not None:
        point_conditions.append(metrics.c.ts_us >= query.since_us)
    if query.until_us is not None:
        point_conditions.append(metrics.c.ts_us < query.until_us)
    conditions = list(point_conditions)
    session_conditions: list[ColumnElement[bool]] = []
    if state_condition is not None:
        session_conditions.append(state_condition)
    if query.product is not None:
        session_conditions.append(sessions.c.product == query.product)
    if session_conditions:
        matching = select(sessions.c.pk).where(*session_conditions)
        conditions.append(metrics.c.session_pk.in_(matching.scalar_subquery()))
    if query.session_id is not None:
        # Equality with one pk (not IN) lets SQLite walk the (session_pk, name, ts) index
        # instead of every point of the metric: 32 ms → 0.1 ms per chart on 1M points.
        session_conditions.append(sessions.c.id == query.session_id)
        one = select(sessions.c.pk).where(sessions.c.id == query.session_id)
        conditions.append(metrics.c.session_pk == one.scalar_subquery())

    if query.aggregation is Aggregation.all:
        rows = (
            select(metrics.c.ts_us, metrics.c.value, metrics.c.session_pk)
            .where(*conditions)
            .subquery()
        )
        points_query = (
            select(rows.c.ts_us, rows.c.value, sessions.c.id)
            .join(sessions, sessions.c.pk == rows.c.session_pk)
            .order_by(rows.c.ts_us.desc())
            .limit(query.limit)
        )
        # Sessions are counted from the sessions side, one index probe each: a DISTINCT
        # over every point built a temporary index (128 ms → 12 ms on 500k points).
        has_points = exists(
            select(literal(1)).where(metrics.c.session_pk == sessions.c.pk, *point_conditions)
        )
        n_sessions = (
            select(func.count())
            .select_from(sessions)
            .where(*session_conditions, has_points)
            .scalar_subquery()
        )
        stats_query = select(
            func.max(rows.c.value),
            _mean(rows.c.value, dialect),
            func.min(rows.c.value),
            n_sessions,
            func.count(),
        )
    else:
        per_session = (
            select(
                metrics.c.session_pk,
                _PER_SESSION[query.aggregation](metrics.c.value, dialect).label("value"),
                func.max(metrics.c.ts_us).label("ts_us"),
            )
            .where(*conditions)
            .group_by(metrics.c.session_pk)
            .subquery()
        )
        points_query = (
            select(per_session.c.ts_us, per_session.c.value, sessions.c.id)
            .join(sessions, sessions.c.pk == per_session.c.session_pk)
            .order_by(per_session.c.ts_us.desc())
            .limit(query.limit)
        )
        stats_query = select(
            func.max(per_session.c.value),
            _mean(per_session.c.value, dialect),
            func.min(per_session.c.value),
            func.count(),
            func.count(),
        )

    peak, average, minimum, n_sessions, n_points = (await conn.execute(stats_query)).one()
    points = [
        {"ts_us": ts, "value": float(value), "session_id": session_id}
        for ts, value, session_id in (await conn.execute(points_query))
    ]
    points.reverse()
    return SeriesResult(
        points=points,
        peak=_float(peak),
        average=_float(average),
        min=_float(minimum),
        sessions_matched=int(n_sessions or 0),
        points_matched=int(n_points or 0),
        truncated=int(n_points or 0) > len(points),
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
