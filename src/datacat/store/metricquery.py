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
ordered by value pick the two ranks, and one grouped sum weighs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Numeric,
    Select,
    String,
    Subquery,
    case,
    cast,
    exists,
    func,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from datacat.histogram import cells_from_buckets, quantile
from datacat.store.statefilter import StateFilter
from datacat.store.tables import metric_buckets, metrics, sessions


class Aggregation(str, Enum):
    all = "all"
    peak = "peak"
    avg = "avg"
    min = "min"
    sum = "sum"
    count_ = "count"  # `count` would shadow str.count
    p50 = "p50"
    p90 = "p90"
    p95 = "p95"
    p99 = "p99"


PERCENTILES: dict[Aggregation, int] = {
    Aggregation.p50: 50,
    Aggregation.p90: 90,
    Aggregation.p95: 95,
    Aggregation.p99: 99,
}

FLOAT_MAX = 1.79769313486231e308
"""A sum beyond the largest double saturates near it: PostgreSQL raises on float overflow
(a 500) and SQLite answers infinity, which JSON cannot carry. It is the largest double of
15 significant digits, the precision of PostgreSQL's float8 → numeric cast, so averaging
saturated sums as numeric does not round past the largest double."""


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


class Bucket(str, Enum):
    auto = "auto"
    minute = "1m"
    five_minutes = "5m"
    hour = "1h"
    day = "1d"


BUCKET_SECONDS: dict[Bucket, int] = {
    Bucket.minute: 60,
    Bucket.five_minutes: 300,
    Bucket.hour: 3600,
    Bucket.day: 86_400,
}

AUTO_MAX_BUCKETS = 300
"""``bucket=auto`` takes the finest width that draws the range in at most this many
points (a day at most: a year still draws as 366)."""


def auto_bucket(span_us: int) -> Bucket:
    for bucket, seconds in BUCKET_SECONDS.items():
        if -(-span_us // (seconds * 1_000_000)) <= AUTO_MAX_BUCKETS:
            return bucket
    return Bucket.day


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
    bucket: Bucket | None = None
    group_by: str | None = None
    """``version``, ``product`` or ``tag:KEY`` (checked by the router)."""


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


@dataclass(frozen=True, slots=True)
class _Conditions:
    point: list[ColumnElement[bool]]
    all: list[ColumnElement[bool]]
    session: list[ColumnElement[bool]]


def _conditions(query: SeriesQuery, state_condition: ColumnElement[bool] | None) -> _Conditions:
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
    return _Conditions(point_conditions, conditions, session_conditions)


async def run_series(
    conn: AsyncConnection, query: SeriesQuery, state_condition: ColumnElement[bool] | None
) -> SeriesResult:
    where = _conditions(query, state_condition)
    if query.aggregation in PERCENTILES or (
        query.aggregation in _WEIGHTED and await _has_histograms(conn, where)
    ):
        # The percentile's sort is the cost: run it once (the explorer reads the
        # per-session rows and reduces them), not again for the statistics. Histogram
        # rows are weighed there too (``_histogram_values``).
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


def _group_column(group_by: str, dialect: str) -> ColumnElement[Any]:
    if group_by == "version":
        return sessions.c.version
    if group_by == "product":
        return sessions.c.product
    key = group_by.removeprefix("tag:")
    if dialect == "postgresql":
        return metrics.c.tags.op("->>")(literal(key))
    # The router allows only [A-Za-z0-9_.-] in KEY, so the quoted path needs no escaping.
    return cast(func.json_extract(metrics.c.tags, f'$."{key}"'), String)


async def _resolve_bucket(
    conn: AsyncConnection, query: SeriesQuery, conditions: list[ColumnElement[bool]]
) -> Bucket:
    assert query.bucket is not None
    if query.bucket is not Bucket.auto:
        return query.bucket
    since, until = query.since_us, query.until_us
    if since is None or until is None:
        low, high = (await conn.execute(_time_range(conditions))).one()
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
    where = _conditions(query, state_condition)
    bucket = await _resolve_bucket(conn, query, where.all) if query.bucket else None
    grouped = query.group_by is not None

    source = _source(query, where, bucket, dialect).subquery()
    group_keys = ["grp"] if grouped else []

    if bucket is not None:
        statistic = Aggregation.avg if query.aggregation is Aggregation.all else query.aggregation
        rows = aggregated(source, [*group_keys, "bucket"], statistic, dialect, newest=False)
        ts_column = rows.c.bucket
    elif query.aggregation is Aggregation.all:
        rows = source
        ts_column = rows.c.ts_us
    else:
        rows = aggregated(source, [*group_keys, "session_pk"], query.aggregation, dialect)
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


async def _reduced(
    conn: AsyncConnection,
    query: SeriesQuery,
    where: _Conditions,
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
        await _histogram_values(conn, query, where, bucket, statistic)
        if statistic in PERCENTILES or statistic in _WEIGHTED
        else {}
    )
    read: list[Any] | None = None
    if statistic in PERCENTILES and bucket is not None and not grouped and not weighed:
        read = await _bucket_percentiles_by_offset(conn, PERCENTILES[statistic], where, bucket)
    elif statistic in PERCENTILES and bucket is None and not weighed:
        read = await _session_percentiles_by_offset(conn, query, PERCENTILES[statistic], where)
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


def _source(
    query: SeriesQuery, where: _Conditions, bucket: Bucket | None, dialect: str
) -> Select[Any]:
    """The matching points as (session_pk, ts_us, value[, bucket][, grp])."""
    columns: list[ColumnElement[Any]] = [
        metrics.c.session_pk,
        metrics.c.ts_us,
        metrics.c.value,
    ]
    if bucket is not None:
        width = BUCKET_SECONDS[bucket] * 1_000_000
        # Floor, also before 1970: SQL's % keeps the dividend's sign on both backends.
        offset = ((metrics.c.ts_us % width) + width) % width
        columns.append((metrics.c.ts_us - offset).label("bucket"))
    source = select(*columns).where(*where.all)
    if query.group_by is not None:
        source = source.add_columns(_group_column(query.group_by, dialect).label("grp")).join_from(
            metrics, sessions, sessions.c.pk == metrics.c.session_pk
        )
    return source


_WEIGHTED = frozenset({Aggregation.sum, Aggregation.count_, Aggregation.avg})
"""Statistics a histogram row counts ``observations`` times (its value is their mean)."""

_IS_HISTOGRAM = metrics.c.observations.is_not(None)


async def _has_histograms(conn: AsyncConnection, where: _Conditions) -> bool:
    """One probe of the partial index ``ix_metrics_histograms`` (histogram rows only)."""
    probe = select(literal(1)).where(*where.all, _IS_HISTOGRAM).limit(1)
    return (await conn.execute(probe)).first() is not None


async def _histogram_values(
    conn: AsyncConnection,
    query: SeriesQuery,
    where: _Conditions,
    bucket: Bucket | None,
    statistic: Aggregation,
) -> dict[tuple[Any, Any], float]:
    """The statistic of every partition holding a histogram row, by (group, key) where
    the key is the session pk (per session) or the bucket's start.

    The main query treats a histogram row as one point at its mean, which is cheap and
    right for every partition without one. Partitions with one are computed again here:
    sum/count/avg weigh each row by its ``observations``; percentiles sum the partition's
    bucket counts by ``le`` in SQL and interpolate over those few rows with the
    partition's plain points as point masses (``datacat.histogram.quantile``). Without
    histogram rows this costs one probe of a partial index that plain rows never enter.
    """
    dialect = conn.dialect.name
    grouped = query.group_by is not None
    source = _source(query, where, bucket, dialect)
    histograms = source.where(_IS_HISTOGRAM).subquery()
    key = histograms.c.bucket if bucket is not None else histograms.c.session_pk
    group = histograms.c.grp if grouped else literal(None)
    affected = {(g, k) for g, k in await conn.execute(select(group, key).distinct())}
    if not affected:
        return {}
    keys = sorted({k for _, k in affected})

    if statistic in _WEIGHTED:
        plain = source.add_columns(metrics.c.observations).subquery()
        plain_key = plain.c.bucket if bucket is not None else plain.c.session_pk
        # As floats: SQLite's integer SUM raises on overflow (counts reach 2**53 each).
        weight = cast(func.coalesce(plain.c.observations, 1), Float)
        totals = await conn.execute(
            select(
                plain.c.grp if grouped else literal(None),
                plain_key,
                func.sum(plain.c.value * weight),
                func.sum(weight),
            )
            .where(plain_key.in_(keys))
            .group_by(*([plain.c.grp] if grouped else []), plain_key)
        )
        weighed: dict[tuple[Any, Any], float] = {}
        for g, k, total, n in totals:
            if (g, k) not in affected:
                continue
            n = int(n or 0)
            total = float(total or 0.0)
            if statistic is Aggregation.sum:
                weighed[(g, k)] = max(min(total, FLOAT_MAX), -FLOAT_MAX)
            elif statistic is Aggregation.count_:
                weighed[(g, k)] = float(n)
            elif n:
                weighed[(g, k)] = total / n
        return weighed

    # Bucket counts: each histogram point once (DISTINCT: its buckets share its key).
    points = (
        select(histograms.c.session_pk, histograms.c.ts_us, key.label("key"), group.label("grp"))
        .distinct()
        .subquery()
    )
    counted = await conn.execute(
        select(
            points.c.grp,
            points.c.key,
            metric_buckets.c.le,
            func.sum(cast(metric_buckets.c.count, Float)),
        )
        .select_from(
            points.join(
                metric_buckets,
                (metric_buckets.c.session_pk == points.c.session_pk)
                & (metric_buckets.c.ts_us == points.c.ts_us)
                & (metric_buckets.c.name == query.name),
            )
        )
        .group_by(points.c.grp, points.c.key, metric_buckets.c.le)
    )
    cells: dict[tuple[Any, Any], list[tuple[float | None, float]]] = {}
    for g, k, le, n in counted:
        cells.setdefault((g, k), []).append((None if le is None else float(le), float(n)))
    plain = source.where(metrics.c.observations.is_(None)).subquery()
    plain_key = plain.c.bucket if bucket is not None else plain.c.session_pk
    plain_group = plain.c.grp if grouped else literal(None)
    values = await conn.execute(
        select(plain_group, plain_key, plain.c.value, func.count())
        .where(plain_key.in_(keys))
        .group_by(*([plain.c.grp] if grouped else []), plain_key, plain.c.value)
    )
    masses: dict[tuple[Any, Any], list[tuple[float, float]]] = {}
    for g, k, value, n in values:
        if (g, k) in affected:
            masses.setdefault((g, k), []).append((float(value), float(n)))
    percent = PERCENTILES[statistic]
    answers: dict[tuple[Any, Any], float] = {}
    for partition in affected:
        answer = quantile(
            percent, cells_from_buckets(cells.get(partition, [])), masses.get(partition, [])
        )
        if answer is not None:
            answers[partition] = answer
    return answers


async def _session_counts(
    conn: AsyncConnection, query: SeriesQuery, where: _Conditions, source: Subquery
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
        group = _group_column(query.group_by, conn.dialect.name)
    counted = await conn.execute(
        select(group, func.count())
        .select_from(sessions)
        .where(*where.session, has_points)
        .group_by(*([group] if query.group_by is not None else []))
    )
    return {g: int(n) for g, n in counted.all()}


OFFSET_MAX_BUCKETS = 1500
"""Above this many time buckets the per-bucket statements cost more than one window sort."""
_COMPOUND = 100
"""Terms per UNION ALL (SQLite allows 500, SQLITE_MAX_COMPOUND_SELECT). Longer statements
run slower per term, not faster: 10,000 per-session p50 terms took 135-165 ms of SQLite
in statements of 400 terms, 85 ms in statements of 100 (50 and 25 are no faster)."""


async def _bucket_percentiles_by_offset(
    conn: AsyncConnection, percent: int, where: _Conditions, bucket: Bucket
) -> list[tuple[None, int, float, None, int]] | None:
    """One percentile per time bucket on SQLite without window functions, or None when
    this way does not apply (sessions filtered, PostgreSQL, too many buckets).

    The same two ranks as :func:`aggregated`, picked differently: each bucket's points are
    counted along the (name, ts_us) index, then ``ORDER BY value LIMIT 2 OFFSET low`` reads
    ranks ``low`` and ``low + 1`` of that bucket alone — small sorts instead of one sort of
    every point followed by three window functions, whose per-row cost was most of the
    time. Unfiltered p95 per day over 500k points: 1163 → ~180 ms (load 2.4, 2 cores).
    Exact: the same ranks and weights, so the same answer as the window form.
    """
    if conn.dialect.name != "sqlite" or where.session:
        return None
    low_ts, high_ts = (await conn.execute(_time_range(where.all))).one()
    if low_ts is None:
        return []
    width = BUCKET_SECONDS[bucket] * 1_000_000
    first = low_ts - low_ts % width  # Python's % floors, also before 1970
    starts = list(range(first, high_ts + 1, width))
    if len(starts) > OFFSET_MAX_BUCKETS:
        return None

    def in_bucket(start: int) -> list[ColumnElement[bool]]:
        return [*where.all, metrics.c.ts_us >= start, metrics.c.ts_us < start + width]

    counts: list[tuple[int, int]] = []
    for part in _chunks(starts):
        terms = [
            select(literal(start), func.count()).select_from(metrics).where(*in_bucket(start))
            for start in part
        ]
        counts += [(int(a), int(n)) for a, n in await conn.execute(union_all(*terms))]
    filled = [(start, n) for start, n in counts if n]
    picked: dict[int, tuple[float, float]] = {}
    for part in _chunks(filled):
        terms = []
        for start, n in part:
            low = (n - 1) * percent // 100
            taken = 2 if low + 1 < n else 1
            # Above the median, from the top: the sorter then keeps only the rows above
            # the rank (a twentieth of them for p95) instead of nearly all.
            descending = low >= n // 2
            ranks = (
                select(metrics.c.value.label("v"))
                .where(*in_bucket(start))
                .order_by(metrics.c.value.desc() if descending else metrics.c.value)
                .limit(taken)
                .offset(n - low - taken if descending else low)
                .subquery()
            )
            terms.append(select(literal(start), func.min(ranks.c.v), func.max(ranks.c.v)))
        for start, lowest, highest in await conn.execute(union_all(*terms)):
            picked[int(start)] = (float(lowest), float(highest))
    answer = []
    for start, n in sorted(filled):
        lowest, highest = picked[start]
        frac = ((n - 1) * percent % 100) / 100.0
        answer.append((None, start, lowest * (1.0 - frac) + highest * frac, None, start))
    return answer


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[i : i + _COMPOUND] for i in range(0, len(items), _COMPOUND)]


def _time_range(conditions: list[ColumnElement[bool]]) -> Select[Any]:
    """The oldest and newest matching ``ts_us``, each its own subquery: SQLite answers a lone
    min() or max() with one index probe, but both in one SELECT scan every point (34 ms
    over 500k → well under 1 ms)."""
    return select(
        select(func.min(metrics.c.ts_us)).where(*conditions).scalar_subquery(),
        select(func.max(metrics.c.ts_us)).where(*conditions).scalar_subquery(),
    )


async def _session_percentiles_by_offset(
    conn: AsyncConnection, query: SeriesQuery, percent: int, where: _Conditions
) -> list[tuple[Any, int, float, str, int]] | None:
    """One percentile per session on SQLite without window functions, or None when this
    way does not apply (PostgreSQL, a tag group: a tag belongs to points, not sessions).

    Each matching session's points are counted (and its newest time read) along the
    (session_pk, name, ts_us) index, then ``ORDER BY value LIMIT … OFFSET …`` sorts that
    session's points alone, 400 sessions per statement. The SQL is a fixed template,
    every value bound. p95 per session over 500k points in 10k sessions: ~1 s → ~0.2 s.
    """
    if conn.dialect.name != "sqlite":
        return None
    if query.group_by is not None and query.group_by.startswith("tag:"):
        return None
    mine = [metrics.c.session_pk == sessions.c.pk, *where.point]
    group: ColumnElement[Any] = literal(None)
    if query.group_by is not None:
        group = _group_column(query.group_by, conn.dialect.name)
    counted = await conn.execute(
        select(
            group,
            sessions.c.pk,
            sessions.c.id,
            select(func.count()).where(*mine).scalar_subquery(),
            select(func.max(metrics.c.ts_us)).where(*mine).scalar_subquery(),
        ).where(*where.session)
    )
    found = [row for row in counted if row[3]]
    time_sql, time_params = "", []
    if query.since_us is not None:
        time_sql, time_params = " AND ts_us >= ?", [query.since_us]
    if query.until_us is not None:
        time_sql, time_params = time_sql + " AND ts_us < ?", [*time_params, query.until_us]
    # Each statement's terms all sort one way, so every full statement of a direction
    # is the same text: the driver's statement cache then compiles it once, where mixed
    # directions made nearly every statement new text (compiling was a third of the time).
    ranks: dict[bool, list[tuple[Any, ...]]] = {False: [], True: []}
    for _, pk, _, n, _ in found:
        low = (n - 1) * percent // 100
        taken = 2 if low + 1 < n else 1
        descending = low >= n // 2
        offset = n - low - taken if descending else low
        ranks[descending].append((pk, pk, query.name, *time_params, taken, offset))
    # Straight to aiosqlite: through SQLAlchemy each of these statements cost ~0.5 ms
    # more (its 600 parameters and the result handled in Python) — 150-170 → 110-115 ms
    # for 10,000 sessions.
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None  # an open connection's aiosqlite one
    picked: dict[int, tuple[float, float]] = {}
    for descending, wanted in ranks.items():
        term = _SESSION_RANKS.format(time=time_sql, order="DESC" if descending else "ASC")
        for part in _chunks(wanted):
            params = tuple(value for term_params in part for value in term_params)
            sql = " UNION ALL ".join([term] * len(part))
            for chosen, lowest, highest in await driver.execute_fetchall(sql, params):
                picked[int(chosen)] = (float(lowest), float(highest))
    answer = []
    for grp, pk, session_id, n, newest in sorted(found, key=lambda row: row[4]):
        lowest, highest = picked[pk]
        frac = ((n - 1) * percent % 100) / 100.0
        answer.append((grp, int(newest), lowest * (1.0 - frac) + highest * frac, session_id, pk))
    return answer


_SESSION_RANKS = (
    "SELECT * FROM (SELECT ?, min(v), max(v) FROM (SELECT value AS v FROM metrics"
    " WHERE session_pk = ? AND name = ?{time} ORDER BY value {order} LIMIT ? OFFSET ?))"
)
"""One session's two ranks; ``time`` and ``order`` are fixed fragments, never input."""
