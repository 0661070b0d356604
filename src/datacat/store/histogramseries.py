"""Histogram rows in the explorer's statistics: weighed by their counts, percentiles
interpolated within their buckets.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from datacat.histogram import cells_from_buckets, quantile
from datacat.store.seriesquery import (
    FLOAT_MAX,
    PERCENTILES,
    Aggregation,
    Bucket,
    Conditions,
    SeriesQuery,
    source_points,
)
from datacat.store.tables import metric_buckets, metrics

WEIGHTED = frozenset({Aggregation.sum, Aggregation.count_, Aggregation.avg})
"""Statistics a histogram row counts ``observations`` times (its value is their mean)."""

_IS_HISTOGRAM = metrics.c.observations.is_not(None)


async def has_histograms(conn: AsyncConnection, where: Conditions) -> bool:
    """One probe of the partial index ``ix_metrics_histograms`` (histogram rows only)."""
    probe = select(literal(1)).where(*where.all, _IS_HISTOGRAM).limit(1)
    return (await conn.execute(probe)).first() is not None


async def histogram_values(
    conn: AsyncConnection,
    query: SeriesQuery,
    where: Conditions,
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
    source = source_points(query, where, bucket, dialect)
    histograms = source.where(_IS_HISTOGRAM).subquery()
    key = histograms.c.bucket if bucket is not None else histograms.c.session_pk
    group = histograms.c.grp if grouped else literal(None)
    affected = {(g, k) for g, k in await conn.execute(select(group, key).distinct())}
    if not affected:
        return {}
    keys = sorted({k for _, k in affected})

    if statistic in WEIGHTED:
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
