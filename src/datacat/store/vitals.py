"""What a metrics scrape reads from the database: sessions by product and status, and size.

Bounded whatever the data: the ``top`` products by session count (ties by name) keep
their name, every other product is counted as ``other``, and each named product gets a
value for every status, so a series does not vanish when its count is zero. Three
grouped queries, each answered from an index (``ix_sessions_status``,
``ix_sessions_product``), none returning more than ``top + 1`` or ``top * 5`` rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, case, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from datacat.store import status as rules
from datacat.store.tables import sessions

OTHER = "other"
NO_PRODUCT = ""


@dataclass(frozen=True, slots=True)
class Vitals:
    sessions: dict[tuple[str, str], int]
    """(product label, status) → sessions now."""
    database_bytes: int | None
    """None when there is no file to measure (an in-memory SQLite database)."""
    releases: dict[tuple[str, str, str], int] = field(default_factory=dict)
    """(product label, version label, status) → sessions, for the releases with the most
    recent activity (the Releases page's order): what a crash-free alert divides."""


async def read_vitals(engine: AsyncEngine, top: int, top_releases: int = 0) -> Vitals:
    async with engine.connect() as conn, conn.begin():
        by_status = dict.fromkeys(rules.STATUSES, 0)
        by_status.update(
            (
                await conn.execute(
                    select(sessions.c.status, func.count()).group_by(sessions.c.status)
                )
            )
            .tuples()
            .all()
        )
        count = func.count().label("n")
        ranked = (
            await conn.execute(
                select(sessions.c.product)
                .group_by(sessions.c.product)
                .order_by(count.desc(), sessions.c.product)
                .add_columns(count)
                .limit(top + 1)
            )
        ).all()
        named = [product for product, _ in ranked[:top]]
        found: dict[tuple[str, str], int] = {}
        if named:
            plain = [product for product in named if product is not None]
            condition: ColumnElement[bool] = sessions.c.product.in_(plain)
            if len(plain) < len(named):
                condition = or_(condition, sessions.c.product.is_(None))
            rows = await conn.execute(
                select(sessions.c.product, sessions.c.status, func.count())
                .where(condition)
                .group_by(sessions.c.product, sessions.c.status)
            )
            for product, status, n in rows:  # None and "" are both "no product"
                key = (product or NO_PRODUCT, status)
                found[key] = found.get(key, 0) + n
        counts = {
            (product or NO_PRODUCT, status): found.get((product or NO_PRODUCT, status), 0)
            for product in named
            for status in rules.STATUSES
        }
        if len(ranked) > top:
            for status, total in by_status.items():
                named_total = sum(
                    n for (_, named_status), n in found.items() if named_status == status
                )
                # One transaction, but PostgreSQL's READ COMMITTED may still let a session
                # change status between the queries: never report a negative count.
                counts[OTHER, status] = counts.get((OTHER, status), 0) + max(0, total - named_total)
        releases = await _recent_releases(conn, top_releases) if top_releases else {}
        size = await _database_bytes(engine, conn)
    return Vitals(counts, size, releases)


async def _recent_releases(conn: AsyncConnection, top: int) -> dict[tuple[str, str, str], int]:
    key = (sessions.c.product, sessions.c.version)
    rows = await conn.execute(
        select(
            *key,
            *(
                func.sum(case((sessions.c.status == status, 1), else_=0)).label(status)
                for status in rules.STATUSES
            ),
        )
        .group_by(*key)
        .order_by(func.max(sessions.c.last_seen_us).desc(), *key)
        .limit(top)
    )
    counts: dict[tuple[str, str, str], int] = {}
    for row in rows.mappings():
        for status in rules.STATUSES:
            label = (row["product"] or NO_PRODUCT, row["version"] or NO_PRODUCT, status)
            counts[label] = counts.get(label, 0) + int(row[status] or 0)
    return counts


async def _database_bytes(engine: AsyncEngine, conn: AsyncConnection) -> int | None:
    if engine.dialect.name == "postgresql":
        size = await conn.scalar(text("SELECT pg_database_size(current_database())"))
        return int(size or 0)
    return _sqlite_bytes(engine.url.database or ":memory:")


def _sqlite_bytes(database: str) -> int | None:
    """The file and its write-ahead log (two ``stat`` calls: no need for a thread)."""
    if database == ":memory:":
        return None
    total = 0
    for path in (database, database + "-wal"):
        try:
            total += os.stat(os.path.expanduser(path)).st_size
        except FileNotFoundError:
            continue
    return total
