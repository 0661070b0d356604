"""Exact statistics per time bucket or session on SQLite, without sorting every point.

SQLite has no percentile function, and its window functions cost ~1.5 µs per row; where
a partition is a time bucket (no session filter) or a session, its points are counted
along an index and ``ORDER BY value LIMIT 2 OFFSET low`` reads the two ranks
``metricquery.aggregated`` would pick — the same answer, from many small sorts instead
of one sort of every point followed by three window functions. A plain statistic per
time bucket (count, sum, avg, peak, min) is read the same way, one range of the index
per bucket, where ``GROUP BY`` a bucket expression sorted every point first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    ClauseElement,
    ColumnElement,
    Integer,
    bindparam,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler

from datacat.store.seriesquery import (
    BUCKET_SECONDS,
    Bucket,
    Conditions,
    SeriesQuery,
    group_column,
    time_range,
)
from datacat.store.tables import metrics, sessions

OFFSET_MAX_BUCKETS = 1500
"""Above this many time buckets the per-bucket statements cost more than one window sort."""
_COMPOUND = 100
"""Terms per UNION ALL (SQLite allows 500, SQLITE_MAX_COMPOUND_SELECT). Longer statements
run slower per term, not faster: 10,000 per-session p50 terms took 135-165 ms of SQLite
in statements of 400 terms, 85 ms in statements of 100 (50 and 25 are no faster)."""


async def bucket_percentiles(
    conn: AsyncConnection, percent: int, where: Conditions, bucket: Bucket
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
    found = await _buckets(conn, where, bucket)
    if found is None:
        return None
    in_bucket = _in_bucket(where)
    count = select(_START, func.count()).select_from(metrics).where(*in_bucket)
    counted = await _each(conn, count, found)
    filled = sorted((int(start), int(n)) for start, n in counted if n)
    ranges = {values["start"]: values for values in found}
    # Above the median, from the top: the sorter then keeps only the rows above the rank
    # (a twentieth of them for p95) instead of nearly all. One statement text per
    # direction, so full statements of a direction repeat and are compiled once.
    wanted: dict[bool, list[dict[str, int]]] = {False: [], True: []}
    for start, n in filled:
        low = (n - 1) * percent // 100
        taken = 2 if low + 1 < n else 1
        descending = low >= n // 2
        offset = n - low - taken if descending else low
        wanted[descending].append({**ranges[start], "taken": taken, "skip": offset})
    picked: dict[int, tuple[float, float]] = {}
    for descending, values in wanted.items():
        ranks = (
            select(metrics.c.value.label("v"))
            .where(*in_bucket)
            .order_by(metrics.c.value.desc() if descending else metrics.c.value)
            .limit(bindparam("taken", type_=Integer))
            .offset(bindparam("skip", type_=Integer))
            .subquery()
        )
        term = select(_START, func.min(ranks.c.v), func.max(ranks.c.v))
        for start, lowest, highest in await _each(conn, term, values):
            picked[int(start)] = (float(lowest), float(highest))
    answer = []
    for start, n in filled:
        lowest, highest = picked[start]
        frac = ((n - 1) * percent % 100) / 100.0
        answer.append((None, start, lowest * (1.0 - frac) + highest * frac, None, start))
    return answer


async def bucket_statistics(
    conn: AsyncConnection, statistic: ColumnElement[float], where: Conditions, bucket: Bucket
) -> list[tuple[None, int, float, None, int]] | None:
    """``statistic`` (an aggregate of ``metrics.c.value``) per time bucket on SQLite, or
    None when this way does not apply (as for :func:`bucket_percentiles`).

    ``GROUP BY`` the bucket expression made SQLite sort every matching point by it,
    although the (name, ts_us) index already yields them in time order; a statement per
    bucket reads its range of the index instead, with no sort. Over a week of 333k points
    (10,000 sessions), three runs each on one machine: count per hour 316-343 → 126-138
    ms, sum per automatic bucket 331-356 → 112-143 (the index read alone: ~70 ms).
    """
    found = await _buckets(conn, where, bucket)
    if found is None:
        return None
    term = select(_START, func.count(), statistic).select_from(metrics).where(*_in_bucket(where))
    rows = sorted(await _each(conn, term, found))
    return [(None, int(start), float(value), None, int(start)) for start, n, value in rows if n]


_START = bindparam("start", type_=BigInteger)
_LOW = bindparam("lo", type_=BigInteger)
_HIGH = bindparam("hi", type_=BigInteger)


def _in_bucket(where: Conditions) -> list[ColumnElement[bool]]:
    """The conditions for one bucket's points, its range bound per statement."""
    return [*where.all, metrics.c.ts_us >= _LOW, metrics.c.ts_us < _HIGH]


async def _buckets(
    conn: AsyncConnection, where: Conditions, bucket: Bucket
) -> list[dict[str, int]] | None:
    """Every bucket between the oldest and newest matching point, oldest first, as the
    bind values of its start and its range; None where statements per bucket do not
    apply (PostgreSQL, sessions filtered, too many buckets)."""
    if conn.dialect.name != "sqlite" or where.session:
        return None
    low_ts, high_ts = (await conn.execute(time_range(where.all))).one()
    if low_ts is None:
        return []
    width = BUCKET_SECONDS[bucket] * 1_000_000
    first = low_ts - low_ts % width  # Python's % floors, also before 1970
    starts = range(first, high_ts + 1, width)
    if len(starts) > OFFSET_MAX_BUCKETS:
        return None
    return [{"start": start, "lo": start, "hi": start + width} for start in starts]


async def _each(
    conn: AsyncConnection, term: ClauseElement, values: list[dict[str, int]]
) -> list[tuple[Any, ...]]:
    """``term``'s rows for each set of ``values`` of its bind parameters, in order.

    The term is compiled once and repeated as text, ``_COMPOUND`` to a statement, straight
    to aiosqlite: building and compiling a SQLAlchemy term per bucket cost about a third
    of a bucketed percentile (p95 per hour over 333k points, three runs each on one
    machine: 372-411 → 237-251 ms). Its other parameters (the metric's name, the time
    range) keep their compiled values.
    """
    compiled = term.compile(dialect=conn.dialect)
    assert isinstance(compiled, SQLCompiler)
    names = compiled.positiontup
    assert names is not None  # SQLite's paramstyle is positional
    fixed = compiled.params
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None  # an open connection's aiosqlite one
    rows: list[tuple[Any, ...]] = []
    for part in _chunks(values):
        sql = " UNION ALL ".join([compiled.string] * len(part))
        params = [bound.get(name, fixed.get(name)) for bound in part for name in names]
        rows += await driver.execute_fetchall(sql, params)
    return rows


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[i : i + _COMPOUND] for i in range(0, len(items), _COMPOUND)]


async def session_percentiles(
    conn: AsyncConnection, query: SeriesQuery, percent: int, where: Conditions
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
        group = group_column(query.group_by, conn.dialect.name)
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
