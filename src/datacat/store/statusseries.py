"""Sessions by status over time, for Grafana's "sessions by status" panel.

A session counts once, in the time bucket it was *created* in, under its *current* status:
the question the panel answers is "of the sessions started in this hour, how many ended
cleanly, crashed, hung or were abandoned (or are still running)". Counting by creation time
keeps the figure O(sessions) on the sessions table alone (``ix_sessions_created``) and
makes a bucket's counts settle once its sessions finish; a per-moment "how many were
running at 14:00" would need every session's status history.

Every bucket in the range answers every status, zeros included (``filled``): Grafana draws
a line through missing rows, so a quiet hour would read as the average of its neighbours
rather than as zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from datacat.store import status as rules
from datacat.store.seriesquery import BUCKET_SECONDS, Bucket, auto_bucket
from datacat.store.tables import sessions

MAX_BUCKETS = 2000
"""At most this many buckets per answer (times five statuses): over a longer range the
newest ``MAX_BUCKETS`` are answered and the answer says it was truncated, as the metric
series keeps its newest points."""


@dataclass(frozen=True, slots=True)
class StatusSeriesQuery:
    since_us: int
    """Start of the range (inclusive), microseconds since the epoch."""
    until_us: int
    """End of the range (exclusive); not after ``since_us``, the range is empty."""
    bucket: Bucket = Bucket.auto
    product: str | None = None
    version: str | None = None


@dataclass(frozen=True, slots=True)
class StatusSeries:
    bucket: Bucket
    """The width used (``auto`` resolved)."""
    rows: list[tuple[int, str, int]]
    """(bucket start in µs, status, sessions), oldest bucket first, statuses in
    ``status.STATUSES`` order, every bucket of the range present."""
    truncated: bool
    """The range held more than ``MAX_BUCKETS`` buckets: the oldest were left out."""


@dataclass(frozen=True, slots=True)
class Plan:
    bucket: Bucket
    width_us: int
    since_us: int
    """Where counting starts: the query's start, or later when buckets were cut."""
    truncated: bool


def plan(query: StatusSeriesQuery) -> Plan:
    """The width (``auto`` as the explorer resolves it) and the part of the range answered:
    all of it, or its newest ``MAX_BUCKETS`` buckets."""
    span = query.until_us - query.since_us
    bucket = auto_bucket(max(span, 1)) if query.bucket is Bucket.auto else query.bucket
    width = BUCKET_SECONDS[bucket] * 1_000_000
    if span <= 0:
        return Plan(bucket, width, query.since_us, truncated=False)
    first = bucket_start(query.since_us, width)
    last = bucket_start(query.until_us - 1, width)
    if (last - first) // width + 1 <= MAX_BUCKETS:
        return Plan(bucket, width, query.since_us, truncated=False)
    return Plan(bucket, width, last - (MAX_BUCKETS - 1) * width, truncated=True)


def bucket_start(ts_us: int, width_us: int) -> int:
    """The start of the bucket holding ``ts_us``: buckets are aligned to the epoch (UTC),
    so the same hour is the same bucket whatever range the dashboard shows."""
    return ts_us - ts_us % width_us


def filled(
    counted: Iterable[tuple[int, str, int]], since_us: int, until_us: int, width_us: int
) -> list[tuple[int, str, int]]:
    """Every bucket from the one holding ``since_us`` to the one holding the range's last
    microsecond, times every status, with the counts found and zero elsewhere."""
    found: dict[tuple[int, str], int] = {}
    for start, status, n in counted:
        found[(start, status)] = found.get((start, status), 0) + n
    rows: list[tuple[int, str, int]] = []
    if until_us <= since_us:
        return rows
    start = bucket_start(since_us, width_us)
    while start < until_us:
        rows.extend((start, status, found.get((start, status), 0)) for status in rules.STATUSES)
        start += width_us
    return rows


async def run_status_series(conn: AsyncConnection, query: StatusSeriesQuery) -> StatusSeries:
    """One grouped query over the range's sessions; buckets and zeros filled in here."""
    chosen = plan(query)
    if query.until_us <= query.since_us:
        return StatusSeries(bucket=chosen.bucket, rows=[], truncated=False)
    width = chosen.width_us
    where: list[ColumnElement[bool]] = [
        sessions.c.created_us >= chosen.since_us,
        sessions.c.created_us < query.until_us,
    ]
    if query.product is not None:
        where.append(sessions.c.product == query.product)
    if query.version is not None:
        where.append(sessions.c.version == query.version)
    # Bucketed in a subquery: a bound width in both SELECT and GROUP BY would be two
    # parameters to PostgreSQL, which then refuses the grouping (as in store.releases).
    # Times in range are never negative (the router refuses them), so % floors here.
    dated = (
        select(
            (sessions.c.created_us - sessions.c.created_us % width).label("start"),
            sessions.c.status,
        )
        .where(*where)
        .subquery()
    )
    grouped = select(dated.c.start, dated.c.status, func.count().label("n")).group_by(
        dated.c.start, dated.c.status
    )
    counted: list[tuple[int, str, int]] = []
    row: Any
    for row in (await conn.execute(grouped)).all():
        counted.append((int(row.start), str(row.status), int(row.n)))
    return StatusSeries(
        bucket=chosen.bucket,
        rows=filled(counted, chosen.since_us, query.until_us, width),
        truncated=chosen.truncated,
    )
