"""The metrics explorer's query — what the seed's web UI computed in Go, done in SQL.

Sessions are filtered first (state filter, product), then their points are read through
the (session_pk, name, ts_us) index, so the cost follows the matching sessions rather
than the size of the whole metrics table. Statistics are aggregated in SQL over every
matching point; only the points shown are capped.

Percentiles are one definition on both backends: linear interpolation between the two
closest ranks at position ``(n - 1) * p`` of the sorted values — PostgreSQL's
``percentile_cont`` and Python's ``statistics.quantiles(values, n=100,
method="inclusive")``. SQLite has no percentile function, so both backends compute it
the same way, exactly: ``row_number()`` and ``count()`` windows over the partition
ordered by value pick the two ranks, and one grouped sum weighs them — or, where a
partition is a session or an unfiltered time bucket, many small sorts pick the same two
(``sqliteranks``). Histogram rows are weighed apart (``histogramseries``); the question
itself and its WHERE clauses are ``seriesquery``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Numeric,
    Subquery,
    case,
    cast,
    exists,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from datacat.store import sqliteranks
from datacat.store.histogramseries import WEIGHTED, has_histograms, histogram_values
from datacat.store.seriesquery import (
    FLOAT_MAX,
    PERCENTILES,
    Aggregation,
    Bucket,
    Conditions,
    SeriesQuery,
    auto_bucket,
    group_column,
    match,
    source_points,
    time_range,
)
from datacat.store.tables import metrics, sessions


def _sum(column: ColumnElement[float], dialect: str) -> ColumnElement[float]:
    if dialect == "postgresql":
        total: ColumnElement[Any] = func.sum(cast(column, Numeric))
        bound = cast(literal(repr(FLOAT_MAX)), Numeric)
        return cast(func.least(func.greatest(total, -bound), bound), Float)
    return func.max(func.min(func.sum(column), FLOAT_MAX), -FLOAT_MAX)


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
    Aggregation.sum: _sum,
    Aggregation.count_: lambda column, _: cast(func.count(column), Float),
}


def aggregated(
    source: Subquery,
    keys: list[str],
    aggregation: Aggregation,
    dialect: str,
    newest: bool = True,
) -> Subquery:
    """One row per distinct ``keys`` of ``source`` (columns ``value``, ``ts_us``): its
    statistic as ``value`` and its newest ``ts_us`` (NULL for a percentile unless
    ``newest``: a time bucket is its own timestamp, and on SQLite that window cost as much
    as the rank itself — 1486 → 808 ms for p99 per hour over 500k points, loaded machine).

    PostgreSQL's ``percentile_cont`` is the same definition as the ranks below, computed
    in one sort per group in C instead of three window functions."""
    key_columns = [source.c[key] for key in keys]
    percent = PERCENTILES.get(aggregation)
    if percent is not None and dialect == "postgresql":
        return (
            select(
                *key_columns,
                func.percentile_cont(percent / 100.0).within_group(source.c.value).label("value"),
                func.max(source.c.ts_us).label("ts_us"),
            )
            .group_by(*key_columns)
            .subquery()
        )
    if percent is None:
        return (
            select(
                *key_columns,
                _PER_SESSION[aggregation](source.c.value, dialect).label("value"),
                func.max(source.c.ts_us).label("ts_us"),
            )
            .group_by(*key_columns)
            .subquery()
        )

    # Position (n - 1) * p / 100 in integers: rank ``low`` (0-based) and the weight
    # ``frac`` of the next rank, with no float rounding in choosing the ranks. Every
    # window shares one sort (same partition and order; the whole-partition frame gives
    # the count and the newest timestamp), and only the two chosen rows of each
    # partition reach the grouping.
    def over(function: Any, whole: bool = True) -> Any:
        return function.over(
            partition_by=key_columns,
            order_by=source.c.value,
            rows=(None, None) if whole else None,
        )

    position = (over(func.count()) - 1) * percent
    ranked = select(
        *key_columns,
        source.c.value,
        (over(func.max(source.c.ts_us)) if newest else literal(None)).label("ts_us"),
        (over(func.row_number(), whole=False) - 1).label("rank"),
        (position // 100).label("low"),
        (cast(position % 100, Float) / 100.0).label("frac"),
    ).subquery()
    weighted = case(
        (ranked.c.rank == ranked.c.low, ranked.c.value * (1.0 - ranked.c.frac)),
        else_=ranked.c.value * ranked.c.frac,
    )
    ranked_keys = [ranked.c[key] for key in keys]
    return (
        select(
            *ranked_keys,
            func.sum(weighted).label("value"),
            func.max(ranked.c.ts_us).label("ts_us"),
        )
        .where(ranked.c.rank.between(ranked.c.low, ranked.c.low + 1))
        .group_by(*ranked_keys)
        .subquery()
    )


SORT_MEMORY = "64MB"
"""PostgreSQL's ``work_mem`` for one explorer read (a constant, never from input)."""


@dataclass(frozen=True, slots=True)
class SeriesResult:
    points: list[dict[str, Any]]
    peak: float | None
    average: float | None
    min: float | None
    sessions_matched: int
    points_matched: int
    truncated: bool


@dataclass(frozen=True, slots=True)
class SeriesGroup:
    group: str | None
    result: SeriesResult


@dataclass(frozen=True, slots=True)
class ExplorerResult:
    bucket: Bucket | None
    """The width used (``auto`` resolved), or None for points per session or raw."""
    groups: list[SeriesGroup]


async def run_series(
    conn: AsyncConnection, query: SeriesQuery, state_condition: ColumnElement[bool] | None
) -> SeriesResult:
    where = match(query, state_condition)
    if query.aggregation in PERCENTILES or (
        query.aggregation in WEIGHTED and await has_histograms(conn, where)
    ):
        # The percentile's sort is the cost: run it once (the explorer reads the
        # per-session rows and reduces them), not again for the statistics. Histogram
        # rows are weighed there too (``histogram_values``).
        only = (await run_explorer(conn, query, state_condition)).groups
        return only[0].result
    dialect = conn.dialect.name
    point_conditions, conditions, session_conditions = where.point, where.all, where.session
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
        source = (
            select(metrics.c.session_pk, metrics.c.ts_us, metrics.c.value)
            .where(*conditions)
            .subquery()
        )
        per_session = aggregated(source, ["session_pk"], query.aggregation, dialect)
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


async def _resolve_bucket(
    conn: AsyncConnection, query: SeriesQuery, conditions: list[ColumnElement[bool]]
) -> Bucket:
    assert query.bucket is not None
    if query.bucket is not Bucket.auto:
        return query.bucket
    since, until = query.since_us, query.until_us
    if since is None or until is None:
        low, high = (await conn.execute(time_range(conditions))).one()
        since = low if since is None else since
        until = high if until is None else until
    if since is None or until is None:
        return Bucket.minute
    return auto_bucket(max(until - since, 1))


async def run_explorer(
    conn: AsyncConnection, query: SeriesQuery, state_condition: ColumnElement[bool] | None
) -> ExplorerResult:
    """Series per time bucket and/or per group: the explorer's comparisons.

    With a bucket, each point is the statistic over every matching point in that bucket,
    across sessions (``all`` averages them: a line needs one value per bucket); without
    one, points are as in :func:`run_series`. ``limit`` caps each group's points, newest
    kept.
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # The sorts behind percentiles and per-bucket groups spill to disk at the default
        # 4 MB (500k points: an external merge of 12 MB); for this read only.
        await conn.execute(text(f"SET LOCAL work_mem = '{SORT_MEMORY}'"))
    where = match(query, state_condition)
    bucket = await _resolve_bucket(conn, query, where.all) if query.bucket else None
    grouped = query.group_by is not None

    source = source_points(query, where, bucket, dialect).subquery()
    group_keys = ["grp"] if grouped else []

    if bucket is not None:
        statistic = Aggregation.avg if query.aggregation is Aggregation.all else query.aggregation
        rows = aggregated(source, [*group_keys, "bucket"], statistic, dialect, newest=False)
        ts_column = rows.c.bucket
    elif query.aggregation is Aggregation.all:
        rows = source
        ts_column = rows.c.ts_us
    else:
        rows = _per_session(query, where, source, group_keys, dialect)
        ts_column = rows.c.ts_us
    row_groups = [rows.c.grp] if grouped else []

    if bucket is not None or query.aggregation is not Aggregation.all:
        # One value per session or bucket: few enough rows to read once and reduce here,
        # instead of running the aggregation again for the statistics and the points.
        return ExplorerResult(
            bucket=bucket,
            groups=await _reduced(conn, query, where, source, rows, ts_column, bucket, grouped),
        )

    # Raw points by group (``all``, no bucket): possibly millions, so the statistics stay
    # in SQL and only the newest ``limit`` of each group are read.
    stats_rows = await conn.execute(
        select(
            *row_groups,
            func.max(rows.c.value),
            _mean(rows.c.value, dialect),
            func.min(rows.c.value),
            func.count(),
        ).group_by(*row_groups)
    )
    stats = {(row[0] if grouped else None): row[len(row_groups) :] for row in stats_rows.all()}
    session_counts = await _session_counts(conn, query, where, source)

    newest_first = func.row_number().over(partition_by=row_groups, order_by=ts_column.desc())
    shown = select(
        (rows.c.grp if grouped else literal(None)).label("grp"),
        ts_column.label("ts"),
        rows.c.value,
        rows.c.session_pk,
        newest_first.label("nth"),
    ).subquery()
    points_query = (
        select(shown.c.grp, shown.c.ts, shown.c.value, sessions.c.id)
        .join(sessions, sessions.c.pk == shown.c.session_pk)
        .where(shown.c.nth <= query.limit)
        .order_by(shown.c.ts)
    )
    points: dict[Any, list[dict[str, Any]]] = {}
    for group, ts, value, session_id in await conn.execute(points_query):
        point = {"ts_us": int(ts), "value": float(value), "session_id": session_id}
        points.setdefault(group, []).append(point)

    groups = []
    for group in sorted(stats, key=lambda g: (g is None, str(g))):
        peak, average, minimum, n_points = stats[group]
        shown_points = points.get(group, [])
        groups.append(
            SeriesGroup(
                group=None if group is None else str(group),
                result=SeriesResult(
                    points=shown_points,
                    peak=_float(peak),
                    average=_float(average),
                    min=_float(minimum),
                    sessions_matched=int(session_counts.get(group) or 0),
                    points_matched=int(n_points or 0),
                    truncated=int(n_points or 0) > len(shown_points),
                ),
            )
        )
    if not grouped and not groups:
        groups.append(SeriesGroup(None, SeriesResult([], None, None, None, 0, 0, truncated=False)))
    return ExplorerResult(bucket=bucket, groups=groups)


def _per_session(
    query: SeriesQuery, where: Conditions, source: Subquery, group_keys: list[str], dialect: str
) -> Subquery:
    """One statistic per session (and tag, for a tag group).

    A version or product is the session's, so each session's statistic is computed from
    its points alone and its group joined to the few results, instead of joining every
    point to its session first: PostgreSQL's p95 per session by version then costs what
    the ungrouped one does (590 → 260 ms over 333k points), and on SQLite the points are
    aggregated in the session index's order, with no sort."""
    if query.group_by is None or query.group_by.startswith("tag:"):
        return aggregated(source, [*group_keys, "session_pk"], query.aggregation, dialect)
    plain = source_points(replace(query, group_by=None), where, None, dialect).subquery()
    per_session = aggregated(plain, ["session_pk"], query.aggregation, dialect)
    return (
        select(
            group_column(query.group_by, dialect).label("grp"),
            per_session.c.session_pk,
            per_session.c.value,
            per_session.c.ts_us,
        )
        .join_from(per_session, sessions, sessions.c.pk == per_session.c.session_pk)
        .subquery()
    )


async def _reduced(
    conn: AsyncConnection,
    query: SeriesQuery,
    where: Conditions,
    source: Subquery,
    rows: Subquery,
    ts_column: ColumnElement[Any],
    bucket: Bucket | None,
    grouped: bool,
) -> list[SeriesGroup]:
    key_column = rows.c.bucket if bucket is not None else rows.c.session_pk
    ordered = (
        select(
            rows.c.grp if grouped else literal(None),
            ts_column,
            rows.c.value,
            sessions.c.id if bucket is None else literal(None),
            key_column,
        )
        .select_from(
            rows if bucket is not None else rows.join(sessions, sessions.c.pk == rows.c.session_pk)
        )
        .order_by(ts_column)
    )
    statistic = Aggregation.avg if query.aggregation is Aggregation.all else query.aggregation
    weighed = (
        await histogram_values(conn, query, where, bucket, statistic)
        if statistic in PERCENTILES or statistic in WEIGHTED
        else {}
    )
    read: list[Any] | None = None
    if statistic in PERCENTILES and bucket is not None and not grouped and not weighed:
        read = await sqliteranks.bucket_percentiles(conn, PERCENTILES[statistic], where, bucket)
    elif statistic in PERCENTILES and bucket is None and not weighed:
        read = await sqliteranks.session_percentiles(conn, query, PERCENTILES[statistic], where)
    elif statistic not in PERCENTILES and bucket is not None and not grouped:
        # A bucket holding histograms is answered from ``weighed`` below, as on this path.
        expression = _PER_SESSION[statistic](metrics.c.value, conn.dialect.name)
        read = await sqliteranks.bucket_statistics(conn, expression, where, bucket)
    if read is None:
        read = list(await conn.execute(ordered))
    by_group: dict[Any, list[tuple[int, float, str | None]]] = {}
    for group, ts, value, session_id, key in read:
        value = weighed.get((group, key), value)
        by_group.setdefault(group, []).append((int(ts), float(value), session_id))
    if bucket is not None:
        session_counts = await _session_counts(conn, query, where, source)
    else:
        session_counts = {group: len(items) for group, items in by_group.items()}
    if not grouped and not by_group:
        by_group[None] = []
    groups = []
    for group in sorted(by_group, key=lambda g: (g is None, str(g))):
        items = by_group[group]
        values = [value for _, value, _ in items]
        shown = items[-query.limit :]
        points: list[dict[str, Any]] = []
        for ts, value, session_id in shown:
            point: dict[str, Any] = {"ts_us": ts, "value": value}
            if bucket is None:
                point["session_id"] = session_id
            points.append(point)
        groups.append(
            SeriesGroup(
                group=None if group is None else str(group),
                result=SeriesResult(
                    points=points,
                    peak=max(values) if values else None,
                    # Each term divided first: a sum of values near the largest double
                    # would overflow (fsum raises).
                    average=math.fsum(v / len(values) for v in values) if values else None,
                    min=min(values) if values else None,
                    sessions_matched=session_counts.get(group, 0),
                    points_matched=len(items),
                    truncated=len(items) > len(shown),
                ),
            )
        )
    return groups


async def _session_counts(
    conn: AsyncConnection, query: SeriesQuery, where: Conditions, source: Subquery
) -> dict[Any, int]:
    """Sessions with matching points, per group.

    Counted from the sessions side, one index probe each, unless the group is a tag (a
    point's, so one session may fall in several groups): DISTINCT over every point cost
    161 → 24 ms ungrouped and 300 → 39 ms by version over 500k points (SQLite)."""
    if query.group_by is not None and query.group_by.startswith("tag:"):
        counted = await conn.execute(
            select(source.c.grp, func.count(func.distinct(source.c.session_pk))).group_by(
                source.c.grp
            )
        )
        return {group: int(n) for group, n in counted.all()}
    has_points = exists(
        select(literal(1)).where(metrics.c.session_pk == sessions.c.pk, *where.point)
    )
    group: ColumnElement[Any] = literal(None)
    if query.group_by is not None:
        group = group_column(query.group_by, conn.dialect.name)
    counted = await conn.execute(
        select(group, func.count())
        .select_from(sessions)
        .where(*where.session, has_points)
        .group_by(*([group] if query.group_by is not None else []))
    )
    return {g: int(n) for g, n in counted.all()}
