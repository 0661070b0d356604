"""``datacat export``: every session with its history, events and metrics, as JSON Lines.

The export reads in one snapshot (a single read transaction; REPEATABLE READ on
PostgreSQL), so a server writing meanwhile cannot tear a session or shift the counts, and
it holds at most a chunk of rows per table whatever the sizes: sessions come a page at a
time, and within a page the small sessions' rows are read together (as many sessions per
query as fit in a chunk) while a large session's are read alone, chunk by chunk, each
chunk written out before the next is read.

Metrics have no (session, id) index, and a large session's metrics must still come out in
id order (the order the API shows them in). Read through the (session, name, …) index,
every chunk would sort the whole session again; read along the primary key, a chunk scans
every other session's metrics stored in between. Each large session takes whichever
costs fewer rows, judged from its count and its first and last id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Column, ColumnElement, Select, Table, Text, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from datacat.store import transferformat as fmt
from datacat.store.tables import events, metric_buckets, metrics, sessions, state_history
from datacat.store.transferformat import Counts

SESSION_PAGE = 200
CHUNK = 5000
"""Rows per read."""

_HEAD_COLUMNS = tuple(sessions.c[key] for key in sorted(fmt.HEAD_KEYS))


@dataclass(frozen=True, slots=True)
class _Kind:
    table: Table
    fields: tuple[ColumnElement[Any], ...]
    """What the line keeps of a row; its JSON column comes as stored (see ``_decoded``)."""
    json_at: int
    encode: Callable[[Sequence[Any], Sequence[Any]], bytes]
    span_reads: bool
    """Large sessions may be read along the primary key (no (session, id) index)."""


def _raw(column: Column[Any]) -> ColumnElement[Any]:
    return type_coerce(column, Text)


_KINDS = (
    _Kind(
        state_history,
        (state_history.c.ts_us, _raw(state_history.c.patch), state_history.c.client_id),
        1,
        fmt.history_rows,
        False,
    ),
    _Kind(
        events,
        (
            events.c.ts_us,
            events.c.name,
            _raw(events.c.data),
            events.c.client_id,
            events.c.level,
            events.c.message,
            events.c.category,
            events.c.labels,  # decoded by its type on both dialects: rare and small
        ),
        2,
        fmt.event_rows,
        False,
    ),
    _Kind(
        metrics,
        (
            metrics.c.ts_us,
            metrics.c.name,
            metrics.c.value,
            _raw(metrics.c.tags),
            metrics.c.client_id,
            metrics.c.kind,
            metrics.c.unit,
            metrics.c.observations,
        ),
        3,
        fmt.metric_rows,
        True,
    ),
)
_OBSERVATIONS_AT = 7
"""Where a metrics row holds its observation count: set on histograms only, whose buckets
are read beside the chunk (``_buckets``) and written with the row."""
_SEPARATORS = (b"", fmt.HISTORY_TO_EVENTS, fmt.EVENTS_TO_METRICS)


@dataclass(frozen=True, slots=True)
class _Extent:
    """A session's rows in one table: how many, and their first and last id."""

    count: int
    first: int
    last: int


class _PageRows:
    """One table's rows for a page of sessions, encoded; ``pieces_of`` in the page's order.

    Rows are selected as (fields…, session_pk, id), so the encoders see the fields first.
    """

    def __init__(
        self, conn: AsyncConnection, kind: _Kind, extents: dict[int, _Extent], order: list[int]
    ) -> None:
        self._conn = conn
        self._kind = kind
        self._decode = conn.dialect.name == "sqlite"
        self._extents = extents
        self._batch_of: dict[int, list[int]] = {}
        self._read: dict[int, bytes] = {}
        batch: list[int] = []
        held = 0
        for pk in order:
            extent = extents.get(pk)
            if extent is None or extent.count > CHUNK:
                continue
            if batch and held + extent.count > CHUNK:
                batch, held = [], 0
            batch.append(pk)
            held += extent.count
            self._batch_of[pk] = batch

    def count(self, pk: int) -> int:
        extent = self._extents.get(pk)
        return 0 if extent is None else extent.count

    async def pieces_of(self, pk: int) -> AsyncIterator[bytes]:
        """The session's rows as comma-separated JSON objects, a chunk per piece."""
        extent = self._extents.get(pk)
        if extent is None:
            return
        if extent.count <= CHUNK:
            if pk not in self._read:
                await self._read_batch(self._batch_of[pk])
            yield self._read.pop(pk)
            return
        async for piece in self._read_large(pk, extent):
            yield piece

    def _select(self) -> Select[Any]:
        table = self._kind.table
        return select(*self._kind.fields, table.c.session_pk, table.c.id)

    async def _encode(self, rows: Sequence[Any]) -> bytes:
        at = self._kind.json_at
        values = [row[at] for row in rows]
        decoded = _decoded(values) if self._decode else values
        if self._kind.table is not metrics:
            return self._kind.encode(rows, decoded)
        return fmt.metric_rows(rows, decoded, await _buckets(self._conn, rows))

    async def _read_batch(self, pks: list[int]) -> None:
        table = self._kind.table
        query = (
            self._select()
            .where(table.c.session_pk.in_(pks))
            .order_by(table.c.session_pk, table.c.id)
        )
        rows = (await self._conn.execute(query)).all()
        pk_at = len(self._kind.fields)
        for pk, session_rows in groupby(rows, key=itemgetter(pk_at)):
            self._read[pk] = await self._encode(list(session_rows))

    async def _read_large(self, pk: int, extent: _Extent) -> AsyncIterator[bytes]:
        table = self._kind.table
        session: ColumnElement[bool] = table.c.session_pk == pk
        upto: list[ColumnElement[bool]] = []
        chunks = -(-extent.count // CHUNK)
        if self._kind.span_reads and extent.last - extent.first < chunks * extent.count:
            # ``+ 0`` keeps the planner off the (session, name, …) index, whose order is
            # not the ids': the read walks the primary key from one chunk's end onward.
            session = (table.c.session_pk + 0) == pk
            upto = [table.c.id <= extent.last]
        after = extent.first - 1
        while True:
            query = (
                self._select()
                .where(session, table.c.id > after, *upto)
                .order_by(table.c.id)
                .limit(CHUNK)
            )
            rows = (await self._conn.execute(query)).all()
            if not rows:
                return
            after = rows[-1][-1]
            yield await self._encode(rows)
            if len(rows) < CHUNK:
                return


async def _buckets(conn: AsyncConnection, rows: Sequence[Any]) -> fmt.Buckets | None:
    """The buckets of the histogram rows among ``rows`` (fields…, session_pk, id), by
    (session_pk, name, ts_us), in stored order; None (no query) when there is none."""
    wanted = {(row[-2], row[1], row[0]) for row in rows if row[_OBSERVATIONS_AT] is not None}
    if not wanted:
        return None
    found: dict[tuple[int, str, int], list[tuple[float | None, int]]] = {}
    pks = sorted({pk for pk, _, _ in wanted})
    times = [ts for _, _, ts in wanted]
    query = (
        select(
            metric_buckets.c.session_pk,
            metric_buckets.c.name,
            metric_buckets.c.ts_us,
            metric_buckets.c.le,
            metric_buckets.c.count,
        )
        .where(
            metric_buckets.c.session_pk.in_(pks),
            metric_buckets.c.ts_us.between(min(times), max(times)),
        )
        .order_by(metric_buckets.c.id)
    )
    for pk, name, ts, le, n in await conn.execute(query):
        if (pk, name, ts) in wanted:
            found.setdefault((pk, name, ts), []).append((le, n))
    return found


def _decoded(stored: list[Any]) -> list[Any]:
    """SQLite's JSON column as Python values, in one ``orjson`` call for the whole chunk.

    The column has numeric affinity, so a value that is a bare number comes back as
    that number rather than its text (``database._json_loads``); NULL is JSON null.
    """
    texts = [
        value if type(value) is str else "null" if value is None else orjson.dumps(value).decode()
        for value in stored
    ]
    decoded: list[Any] = orjson.loads("[" + ",".join(texts) + "]")
    return decoded


async def _extents(conn: AsyncConnection, table: Table, pks: list[int]) -> dict[int, _Extent]:
    query = (
        select(table.c.session_pk, func.count(), func.min(table.c.id), func.max(table.c.id))
        .where(table.c.session_pk.in_(pks))
        .group_by(table.c.session_pk)
    )
    return {pk: _Extent(count, first, last) for pk, count, first, last in await conn.execute(query)}


Write = Callable[[bytes], object]
Progress = Callable[[int, int], object]
"""Called with (sessions done, sessions in all) at the start and after each session."""


async def export_sessions(
    engine: AsyncEngine, since_us: int | None, write: Write, progress: Progress | None = None
) -> Counts:
    """Write every session whose last activity (``last_seen_us``) is at or after
    ``since_us`` (all when None), one line each, oldest first."""
    counts = Counts()
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = await conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        async with conn.begin():
            chosen = [] if since_us is None else [sessions.c.last_seen_us >= since_us]
            total = int(
                await conn.scalar(select(func.count()).select_from(sessions).where(*chosen)) or 0
            )
            if progress is not None:
                progress(0, total)
            after = 0
            while True:
                query = (
                    select(sessions.c.pk, *_HEAD_COLUMNS)
                    .where(sessions.c.pk > after, *chosen)
                    .order_by(sessions.c.pk)
                    .limit(SESSION_PAGE)
                )
                page = [dict(row) for row in (await conn.execute(query)).mappings()]
                if not page:
                    return counts
                order = [row["pk"] for row in page]
                readers = [
                    _PageRows(conn, kind, await _extents(conn, kind.table, order), order)
                    for kind in _KINDS
                ]
                for row in page:
                    pk = row["pk"]
                    write(fmt.head(row))
                    for separator, reader in zip(_SEPARATORS, readers, strict=True):
                        write(separator)
                        first = True
                        async for piece in reader.pieces_of(pk):
                            write(piece if first else b"," + piece)
                            first = False
                    write(fmt.TAIL)
                    history, logged, measured = (reader.count(pk) for reader in readers)
                    counts.state_history += history
                    counts.events += logged
                    counts.metrics += measured
                    counts.sessions += 1
                    if progress is not None:
                        progress(counts.sessions, total)
                after = order[-1]
