"""Deleting sessions with everything under them, a bounded number of rows per transaction.

Ingest must keep flowing while a prune removes millions of rows. On SQLite every write,
a deletion's too, holds the one write lock (``writelock``), so a deletion is cut into
transactions of at most ``BATCH_ROWS`` rows, and after each one the pruner pauses for as
long as it held the lock: the group writer always gets at least half of the write time.
On PostgreSQL the same short transactions keep row locks and WAL bursts small.

A session's events, metrics and state history go first and its row last, in the same
transaction as its final rows, so an interrupted deletion leaves a session that is
still listed (and is deleted again by the next prune or DELETE) rather than rows that
belong to nothing. Until that last transaction the session is readable, partly deleted.

Delete wins: once a session is picked for deletion it is deleted, even if written to
meanwhile. A write racing the deletion is either removed with it or, once the row is
gone, answered 404 (the writer notices its cached pk is stale). On PostgreSQL the last
transaction locks the session rows first, so a concurrent insert waits and then fails
its foreign key check (which the writer turns into a 404) instead of the deletion
failing on a row it could not see. ``metric_names`` keeps names: it is only the
explorer's list of names ever logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from datacat.store.database import WRITE_OPTION
from datacat.store.tables import events, metric_buckets, metrics, sessions, state_history
from datacat.store.writelock import WriteLock

BATCH_ROWS = 500
"""Rows deleted per transaction. Measured with ``bench/prune.py`` (300,000 events, ingest
at 200 requests/s, SQLite, a busy 2-core machine): ingest p99 during the prune was 65 ms
at 500 rows, 98 ms at 1,000 and 144 ms at 2,000, while the prune ran at 8,100, 9,000 and
17,000 events/s. A transaction's fixed cost dominates below 1,000 rows, so smaller ones
would only slow the prune."""
BATCH_SESSIONS = 100
"""Sessions picked per round of a prune; their rows are then deleted ``BATCH_ROWS`` at a time."""
_CHILDREN = (
    (events, "events"),
    (metrics, "metrics"),
    (metric_buckets, "metric_buckets"),
    (state_history, "state_history"),
)
_DEADLOCK = "40P01"
_RETRIES = 5


@dataclass(slots=True)
class Removed:
    """How many rows a deletion removed (or, for a dry run, would remove)."""

    sessions: int = 0
    events: int = 0
    metrics: int = 0
    state_history: int = 0
    metric_buckets: int = 0

    def add(self, other: Removed) -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    def as_dict(self) -> dict[str, int]:
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def __bool__(self) -> bool:
        return any(self.as_dict().values())


def inactive_since(cutoff_us: int) -> Any:
    """Sessions whose last activity is older than ``cutoff_us``.

    Last activity is ``updated_us``: every accepted write moves it, keep-alives and writes
    after the end included, while the liveness sweeper's status changes do not (they are
    not the client's doing). ``last_seen_us`` moves with it today but is the liveness
    clock, and only ``updated_us`` is indexed, so a prune finds its sessions by a range
    scan instead of reading every session.
    """
    return sessions.c.updated_us < cutoff_us


class Pruner:
    def __init__(
        self,
        engine: AsyncEngine,
        lock: WriteLock,
        batch_rows: int = BATCH_ROWS,
        pause_ratio: float = 1.0,
    ) -> None:
        self._engine = engine
        self._lock = lock
        self._batch_rows = batch_rows
        self._pause_ratio = pause_ratio
        self._postgresql = engine.dialect.name == "postgresql"

    async def count(self, cutoff_us: int) -> Removed:
        """What ``older_than(cutoff_us)`` would delete now (a dry run)."""
        victims = select(sessions.c.pk).where(inactive_since(cutoff_us)).scalar_subquery()
        found = Removed()
        async with self._engine.connect() as conn:
            found.sessions = int(
                await conn.scalar(
                    select(func.count()).select_from(sessions).where(inactive_since(cutoff_us))
                )
                or 0
            )
            for table, name in _CHILDREN:
                counted = await conn.scalar(
                    select(func.count()).select_from(table).where(table.c.session_pk.in_(victims))
                )
                setattr(found, name, int(counted or 0))
        return found

    async def older_than(self, cutoff_us: int, limit: int | None = None) -> AsyncIterator[Removed]:
        """Delete sessions inactive since before ``cutoff_us``, oldest first, up to ``limit``
        of them; yields what each round of up to ``BATCH_SESSIONS`` sessions removed."""
        after: tuple[int, int] | None = None
        left = limit
        while left is None or left > 0:
            size = BATCH_SESSIONS if left is None else min(BATCH_SESSIONS, left)
            query = select(sessions.c.updated_us, sessions.c.pk).where(inactive_since(cutoff_us))
            if after is not None:
                query = query.where(tuple_(sessions.c.updated_us, sessions.c.pk) > after)
            query = query.order_by(sessions.c.updated_us, sessions.c.pk).limit(size)
            async with self._engine.connect() as conn:
                picked = (await conn.execute(query)).all()
            if not picked:
                return
            after = (picked[-1][0], picked[-1][1])
            yield await self.delete([pk for _, pk in picked])
            if left is not None:
                left -= len(picked)

    async def delete(self, pks: Sequence[int]) -> Removed:
        """Delete these sessions and everything under them, whatever their activity."""
        pks = sorted(pks)
        removed = Removed()
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            some, done = await self._transaction(pks)
            removed.add(some)
            if done:
                return removed
            await asyncio.sleep((loop.time() - started) * self._pause_ratio)

    async def _transaction(self, pks: list[int]) -> tuple[Removed, bool]:
        for attempt in range(_RETRIES):
            try:
                async with self._lock.hold(), self._engine.connect() as conn:
                    conn = await conn.execution_options(**{WRITE_OPTION: True})
                    async with conn.begin():
                        return await self._delete_some(conn, pks)
            except DBAPIError as exc:
                # The writer locks rows in its own order; PostgreSQL breaks the rare cycle
                # by failing one side, and this side simply goes again.
                deadlock = getattr(exc.orig, "sqlstate", None) == _DEADLOCK
                if not deadlock or attempt + 1 == _RETRIES:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _delete_some(self, conn: AsyncConnection, pks: list[int]) -> tuple[Removed, bool]:
        """Up to ``batch_rows`` rows under the sessions; the sessions too once none is left."""
        if self._postgresql:
            await conn.execute(
                select(sessions.c.pk)
                .where(sessions.c.pk.in_(pks))
                .order_by(sessions.c.pk)
                .with_for_update()
            )
        removed = Removed()
        budget = self._batch_rows
        for table, name in _CHILDREN:
            ids = select(table.c.id).where(table.c.session_pk.in_(pks)).limit(budget)
            deleted = (await conn.execute(delete(table).where(table.c.id.in_(ids)))).rowcount
            setattr(removed, name, deleted)
            budget -= deleted
            if budget <= 0:
                return removed, False
        # Every table gave fewer rows than it was allowed: nothing is left under them.
        result = await conn.execute(delete(sessions).where(sessions.c.pk.in_(pks)))
        removed.sessions = result.rowcount
        return removed, True
