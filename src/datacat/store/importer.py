"""``datacat import``: storing exported lines as the writer would have stored them.

A new ``pk`` for each session, JSON encoded as the writer encodes it, every metric name in
``metric_names``. Each group of sessions goes in in one transaction, under the same write
lock as the server's writer, so a session is stored whole or not at all and a server
running on the same database keeps working. A line too long to parse whole
(``longline``) is stored as it is read, in a transaction of its own that a fault late in
the line rolls back. A session whose id is already stored is skipped, whole: importing a
file twice stores it once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from datacat.fingerprint import EXCEPTION_EVENT, exception_marks
from datacat.store import transferformat as fmt
from datacat.store.bulk import (
    EVENTS,
    HISTOGRAMS,
    METRIC_BUCKETS,
    METRICS,
    STATE_HISTORY,
    TableSpec,
    insert_rows,
)
from datacat.store.database import create_engine, create_sync_writer
from datacat.store.longline import Piece
from datacat.store.tables import metric_names, sessions
from datacat.store.transferformat import Counts
from datacat.store.writelock import WriteLock

CHUNK = 5000
"""Rows per insert statement."""
GROUP_ROWS = 20_000
GROUP_SESSIONS = 500
"""An import transaction closes once it holds this many rows or sessions (a session
larger than that closes the group it joins)."""

_T = TypeVar("_T")


@dataclass(slots=True)
class _Group:
    records: list[fmt.SessionRecord] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    rows: int = 0
    first_line: int = 0
    last_line: int = 0


class GroupFailed(RuntimeError):
    """A group's transaction failed in the database: none of its sessions was stored."""

    def __init__(self, first_line: int, last_line: int, cause: Exception) -> None:
        lines = (
            f"line {first_line}" if first_line == last_line else f"lines {first_line}-{last_line}"
        )
        super().__init__(f"{lines} not imported: {cause}")


class Importer:
    """Takes checked lines (``add``) and stores them a group per transaction; ``flush``
    stores what is waiting (call it at the end, and before reporting a bad line, so every
    line before it is in)."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(url, pool_size=1)
        self._sync = create_sync_writer(self._engine)
        self._lock = WriteLock.for_url(url)
        self._group = _Group()
        self.counts = Counts()

    async def add(self, record: fmt.SessionRecord, line: int) -> None:
        group = self._group
        if record.id in group.ids:
            self.counts.skipped += 1
            return
        if not group.records:
            group.first_line = line
        group.last_line = line
        group.records.append(record)
        group.ids.add(record.id)
        group.rows += record.rows
        if group.rows >= GROUP_ROWS or len(group.records) >= GROUP_SESSIONS:
            await self.flush()

    async def flush(self) -> None:
        group, self._group = self._group, _Group()
        if not group.records:
            return
        try:
            stored = await self._transaction(_write, group.records)
        except DBAPIError as exc:
            raise GroupFailed(group.first_line, group.last_line, exc.orig or exc) from exc
        self._count(stored)

    async def add_long(self, pieces: Iterator[Piece], line: int) -> None:
        """A line read as it is stored (``longline``): in a transaction of its own, so a
        fault late in the line takes back the rows already inserted from it."""
        await self.flush()
        try:
            stored = await self._transaction(_write_pieces, pieces)
        except DBAPIError as exc:
            raise GroupFailed(line, line, exc.orig or exc) from exc
        self._count(stored)

    async def _transaction(self, write: Callable[[Connection, _T], Counts], rows: _T) -> Counts:
        async with self._lock.hold():
            if self._sync is not None:
                with self._sync.connect() as conn, conn.begin():
                    return write(conn, rows)
            async with self._engine.connect() as aconn, aconn.begin():
                return await aconn.run_sync(write, rows)

    def _count(self, stored: Counts) -> None:
        total = self.counts
        total.sessions += stored.sessions
        total.skipped += stored.skipped
        total.state_history += stored.state_history
        total.events += stored.events
        total.metrics += stored.metrics

    async def close(self) -> None:
        if self._sync is not None:
            self._sync.dispose()
        await self._engine.dispose()
        self._lock.close()


def _dialect(conn: Connection) -> Any:
    return postgresql if conn.dialect.name == "postgresql" else sqlite


def _insert_sessions(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """The new pk of each session stored; one whose id is already there is left out."""
    inserted = conn.execute(
        _dialect(conn)
        .insert(sessions)
        .on_conflict_do_nothing(index_elements=[sessions.c.id])
        .returning(sessions.c.pk, sessions.c.id),
        rows,
    )
    return {session_id: pk for pk, session_id in inserted}


def _insert_names(conn: Connection, names: set[str]) -> None:
    if names:
        conn.execute(
            _dialect(conn).insert(metric_names).on_conflict_do_nothing(),
            [{"name": name} for name in sorted(names)],
        )


def _write(conn: Connection, records: list[fmt.SessionRecord]) -> Counts:
    pks = _insert_sessions(conn, [record.session for record in records])
    stored = Counts()
    names: set[str] = set()
    for record in records:
        pk = pks.get(record.id)
        if pk is None:
            stored.skipped += 1
            continue
        stored.sessions += 1
        stored.state_history += _insert(conn, STATE_HISTORY, pk, record.history)
        stored.events += _insert(conn, EVENTS, pk, record.events)
        stored.metrics += _insert(conn, METRICS, pk, record.metrics)
        names.update(row[1] for row in record.metrics)
    _insert_names(conn, names)
    return stored


_SPECS = {"state_history": STATE_HISTORY, "events": EVENTS, "metrics": METRICS}


def _write_pieces(conn: Connection, pieces: Iterator[Piece]) -> Counts:
    stored = Counts()
    first = next(pieces, None)
    if first is None:
        return stored
    _, session = first
    pk = _insert_sessions(conn, [session]).get(session["id"])
    if pk is None:
        stored.skipped += 1
        for _ in pieces:
            pass  # still read to its end, so a fault in it is reported as for any line
        return stored
    stored.sessions += 1
    names: set[str] = set()
    for kind, rows in pieces:
        counted = _insert(conn, _SPECS[kind], pk, rows, unique=True)
        if kind == "events":
            stored.events += counted
        elif kind == "metrics":
            stored.metrics += counted
            names.update(row[1] for row in rows)
        else:
            stored.state_history += counted
    _insert_names(conn, names)
    return stored


def _insert(
    conn: Connection, spec: TableSpec, pk: int, rows: list[Any], unique: bool = False
) -> int:
    """``unique``: the rows' client ids were not checked for repeats (``longline``), so
    let the unique index skip them, and refuse the line if it did."""
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        if spec is METRICS and any(len(row) == _HISTOGRAM_WIDTH for row in chunk):
            _insert_metrics(conn, pk, chunk, unique)
            continue
        if spec is EVENTS:
            part = [_event_row(pk, row) for row in chunk]
        else:
            part = [(pk, *row) for row in chunk]
        stored = insert_rows(conn, spec, part, skip_duplicates=unique)
        if unique and len(stored) < len(part):
            raise fmt.LineError("a client id appears twice in this session", spec.name)
    return len(rows)


_HISTOGRAM_WIDTH = 9
"""A checked histogram metric: the 7 fields of any metric, then its count and buckets."""


def _insert_metrics(conn: Connection, pk: int, rows: list[Any], unique: bool) -> None:
    """Metrics with histograms among them, in runs of one kind so ids keep the file's
    order; each histogram's buckets beside it, as the writer stores a posted one."""
    start = 0
    for end in range(1, len(rows) + 1):
        histogram = len(rows[start]) == _HISTOGRAM_WIDTH
        if end < len(rows) and (len(rows[end]) == _HISTOGRAM_WIDTH) == histogram:
            continue
        run = rows[start:end]
        start = end
        if not histogram:
            part = [(pk, *row) for row in run]
            stored = insert_rows(conn, METRICS, part, skip_duplicates=unique)
        else:
            # (ts, name, value, tags, kind, unit, client_id, count, buckets) → HISTOGRAMS'
            part = [(pk, *row[:6], row[7], row[6]) for row in run]
            stored = insert_rows(conn, HISTOGRAMS, part, skip_duplicates=unique)
            buckets = [(pk, row[0], row[1], le, n) for row in run for le, n in row[8]]
            insert_rows(conn, METRIC_BUCKETS, buckets, skip_duplicates=False)
        if unique and len(stored) < len(part):
            raise fmt.LineError("a client id appears twice in this session", "metrics")


def _event_row(pk: int, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A checked event (``transferformat``'s order: no fingerprint) in ``EVENTS``' order,
    fingerprinted as the server fingerprints a posted one: the export leaves the derived
    columns out, so an import computes them again, by the same rule."""
    ts_us, name, data, level, message, category, labels, client_id = row
    fingerprint, fatal = (
        exception_marks(name, orjson.loads(data)) if name == EXCEPTION_EVENT else (None, None)
    )
    return (pk, ts_us, name, data, level, message, category, labels, fingerprint, fatal, client_id)
