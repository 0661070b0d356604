"""Release health: how each product version's sessions ended, in three grouped queries.

Every figure comes from the sessions table alone (one row per session), so the cost follows
the number of sessions, never the events or metrics they logged. ``hung`` counts sessions
whose *current* status is hung: a session that hung and recovered is ``active`` again, and
telling "ever hung" apart would need a scan of every session's events (the session browser's
``ever_hung`` filter does that per session, for one page).

The median duration is exact on both backends without ``percentile_cont`` (SQLite has
none): each release's durations are numbered in order by a window function and the one or
two middle rows averaged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from datacat.store import status as rules
from datacat.store.tables import sessions

DAY_US = 86_400_000_000


@dataclass(frozen=True, slots=True)
class ReleaseQuery:
    product: str | None = None
    limit: int = 200
    """Releases with the most recent activity first; older ones are left out."""
    days: int = 30
    """The daily series keeps each release's latest ``days`` days that had sessions."""


@dataclass(slots=True)
class Release:
    product: str | None
    version: str | None
    sessions: int
    counts: dict[str, int]
    first_seen_us: int
    last_seen_us: int
    median_duration_us: float | None = None
    daily: list[tuple[int, int, int]] = field(default_factory=list)
    """(day number since the epoch, sessions created that UTC day, of them crashed)."""

    @property
    def crash_free_rate(self) -> float:
        return 1 - self.counts[rules.CRASHED] / self.sessions

    @property
    def hang_free_rate(self) -> float:
        return 1 - self.counts[rules.HUNG] / self.sessions


def _count(status: str) -> ColumnElement[Any]:
    return func.sum(case((sessions.c.status == status, 1), else_=0))


async def run_releases(conn: AsyncConnection, query: ReleaseQuery) -> list[Release]:
    where: list[ColumnElement[bool]] = []
    if query.product is not None:
        where.append(sessions.c.product == query.product)
    key = (sessions.c.product, sessions.c.version)

    summary = (
        select(
            *key,
            func.count().label("n"),
            *(_count(s).label(s) for s in rules.STATUSES),
            func.min(sessions.c.created_us).label("first"),
            func.max(sessions.c.last_seen_us).label("last"),
        )
        .where(*where)
        .group_by(*key)
        .order_by(func.max(sessions.c.last_seen_us).desc())
        .limit(query.limit)
    )
    found: dict[tuple[str | None, str | None], Release] = {}
    for row in (await conn.execute(summary)).mappings():
        found[(row["product"], row["version"])] = Release(
            product=row["product"],
            version=row["version"],
            sessions=int(row["n"]),
            counts={s: int(row[s] or 0) for s in rules.STATUSES},
            first_seen_us=int(row["first"]),
            last_seen_us=int(row["last"]),
        )
    if not found:
        return []

    duration = (sessions.c.ended_us - sessions.c.created_us).label("d")
    numbered = (
        select(
            *key,
            duration,
            func.row_number().over(partition_by=key, order_by=duration).label("rn"),
            func.count().over(partition_by=key).label("cnt"),
        )
        .where(
            *where,
            sessions.c.status.in_(tuple(rules.FINAL)),
            sessions.c.ended_us.is_not(None),
        )
        .subquery()
    )
    middle = select(numbered.c.product, numbered.c.version, numbered.c.d).where(
        numbered.c.rn.in_(
            ((numbered.c.cnt + 1) // 2, (numbered.c.cnt + 2) // 2)
        )  # one row when odd
    )
    halves: dict[tuple[str | None, str | None], list[int]] = {}
    for product, version, d in (await conn.execute(middle)).all():
        halves.setdefault((product, version), []).append(int(d))
    for release_key, values in halves.items():
        if release_key in found:
            found[release_key].median_duration_us = sum(values) / len(values)

    # Days are numbered in a subquery first: a bound divisor in both SELECT and GROUP BY
    # is two different parameters to PostgreSQL, which then refuses the grouping.
    dated = (
        select(*key, (sessions.c.created_us // DAY_US).label("day"), sessions.c.status)
        .where(*where)
        .subquery()
    )
    dated_key = (dated.c.product, dated.c.version)
    grouped = (
        select(
            *dated_key,
            dated.c.day,
            func.count().label("n"),
            func.sum(case((dated.c.status == rules.CRASHED, 1), else_=0)).label("crashed"),
        )
        .group_by(*dated_key, dated.c.day)
        .subquery()
    )
    per_day = select(
        grouped,
        func.row_number()
        .over(partition_by=(grouped.c.product, grouped.c.version), order_by=grouped.c.day.desc())
        .label("recent"),
    ).subquery()
    series = (
        select(per_day.c.product, per_day.c.version, per_day.c.day, per_day.c.n, per_day.c.crashed)
        .where(per_day.c.recent <= query.days)
        .order_by(per_day.c.day)
    )
    for product, version, day_number, n, crashed in (await conn.execute(series)).all():
        release = found.get((product, version))
        if release is not None:
            release.daily.append((int(day_number), int(n), int(crashed or 0)))
    return list(found.values())
