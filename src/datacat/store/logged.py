"""Reading events and metrics: their queries, row decoding, and chunked streaming.

JSON columns are read as text and decoded by orjson (several times faster, for the
thousands of rows a session can hold, than per-row type processing) — or handed on as
``orjson.Fragment`` so a response writes stored JSON through without decoding it at all.

Events, which make up most of a session document, go further: the database writes their
wire JSON itself (``event_documents``), so a 10,000-event session costs Python one string
instead of 10,000 rows, and the work runs in the database's thread without holding the
GIL. Metrics stay rows: their values are floats, and neither SQLite nor PostgreSQL prints
a float the way the API always has (shortest round-trip, ``5.0`` not ``5``).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from sqlalchemy import Select, Table, Text, TextClause, bindparam, cast, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from datacat.store.chunkcache import ChunkCache
from datacat.store.tables import events, metrics


def event_query(pks: list[int]) -> Select[Any]:
    return (
        select(
            events.c.session_pk,
            events.c.id,
            events.c.ts_us,
            events.c.name,
            raw_json(events.c.data),
        )
        .where(events.c.session_pk.in_(pks))
        .order_by(events.c.session_pk, events.c.id)
    )


def metric_query(pks: list[int]) -> Select[Any]:
    return (
        select(
            metrics.c.session_pk,
            metrics.c.id,
            metrics.c.ts_us,
            metrics.c.name,
            metrics.c.value,
            raw_json(metrics.c.tags),
        )
        .where(metrics.c.session_pk.in_(pks))
        .order_by(metrics.c.session_pk, metrics.c.id)
    )


Decode = Callable[[str | None], Any]


def event_dict(row: Any, decode: Decode) -> dict[str, Any]:
    return {"ts_us": row[2], "name": row[3], "data": decode(row[4])}


def metric_dict(row: Any, decode: Decode) -> dict[str, Any]:
    return {"ts_us": row[2], "name": row[3], "value": row[4], "tags": decode(row[5])}


class ChunkedRows:
    """Events or metrics of a page of sessions, read in keyset chunks in (session, id) order.

    ``rows_of(pk)`` must be called for the page's sessions in ascending order — the order
    the rows arrive in — so one chunk is held at a time whatever the sessions' sizes.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        table: Table,
        query: Callable[[list[int]], Select[Any]],
        to_dict: Callable[[Any, Decode], dict[str, Any]],
        decode: Decode,
        pks: list[int],
        chunk: int,
    ) -> None:
        self._engine = engine
        self._chunk = chunk
        self._table = table
        self._query = query(pks)
        self._dict = to_dict
        self.decode = decode
        self._buffer: list[Any] = []
        self._at = 0
        self._last: tuple[int, int] | None = None
        self._done = False

    async def _fill(self) -> None:
        query = self._query.limit(self._chunk)
        if self._last is not None:
            table = self._table
            query = query.where(tuple_(table.c.session_pk, table.c.id) > tuple_(*self._last))
        async with self._engine.connect() as conn:
            self._buffer = list(await conn.execute(query))
        self._at = 0
        self._done = len(self._buffer) < self._chunk
        if self._buffer:
            self._last = (self._buffer[-1][0], self._buffer[-1][1])

    async def rows_of(self, pk: int) -> AsyncIterator[list[dict[str, Any]]]:
        while True:
            if self._at == len(self._buffer):
                if self._done:
                    return
                await self._fill()
                continue
            chunk = []
            while self._at < len(self._buffer) and self._buffer[self._at][0] == pk:
                chunk.append(self._dict(self._buffer[self._at], self.decode))
                self._at += 1
            if chunk:
                yield chunk
            if self._at < len(self._buffer):
                return  # the next row belongs to a later session


# An event's wire JSON, spelled in each dialect: the same keys, in the same order, as
# ``api.render.event_out``, the time as RFC 3339 with six fractional digits. Floor
# division keeps times before 1970 right (SQLite's `/` and `%` truncate towards zero).
_EVENT_JSON = {
    "sqlite": (
        """printf('{"timestamp":"%s.%06dZ","name":%s,"data":%s}',"""
        " strftime('%Y-%m-%dT%H:%M:%S',"
        " (ts_us - ((ts_us % 1000000) + 1000000) % 1000000) / 1000000, 'unixepoch'),"
        " ((ts_us % 1000000) + 1000000) % 1000000, json_quote(name), coalesce(data, 'null'))"
    ),
    "postgresql": (
        # Seconds and microseconds apart: one product would pass through a float8.
        """'{"timestamp":"' || to_char(timestamp '1970-01-01'"""
        " + (ts_us / 1000000) * interval '1 second' + (ts_us % 1000000) * interval '1 microsecond',"
        """ 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '","name":' || to_json(name)::text"""
        """ || ',"data":' || coalesce(data::text, 'null') || '}'"""
    ),
}
# SQLite aggregates in the order rows leave the ordered subquery; PostgreSQL is told.
_JOINED = {"sqlite": "group_concat(doc, ',')", "postgresql": "string_agg(doc, ',' ORDER BY id)"}


@functools.cache
def session_event_documents(dialect: str) -> TextClause:
    """One session's next ``:chunk`` events after id ``:after`` (up to ``:upto``) as one
    row: ``(last id, count, the events' JSON objects joined by commas)``."""
    return text(
        f"SELECT max(id), count(*), {_JOINED[dialect]} FROM ("
        f" SELECT id, {_EVENT_JSON[dialect]} AS doc FROM events"
        " WHERE session_pk = :pk AND id > :after AND id <= :upto ORDER BY id LIMIT :chunk"
        ") AS chunk"
    )


@functools.cache
def event_documents(dialect: str) -> TextClause:
    """The next ``:chunk`` events of the sessions ``:pks`` after ``(:after_pk, :after_id)``
    (up to id ``:upto``), one JSON object per row. Not aggregated per session: SQLite's
    GROUP BY sorts, and would not promise to keep each session's events in order."""
    return text(
        f"SELECT session_pk, id, {_EVENT_JSON[dialect]} FROM events"
        " WHERE session_pk IN :pks AND id <= :upto"
        " AND (session_pk > :after_pk OR (session_pk = :after_pk AND id > :after_id))"
        " ORDER BY session_pk, id LIMIT :chunk"
    ).bindparams(bindparam("pks", expanding=True))


class EventDocuments:
    """The events of a page of sessions as JSON text, read in keyset chunks.

    Like ``ChunkedRows``, ``pieces_of(pk)`` must be called for the page's sessions in
    ascending order; one chunk (a bounded number of events) is held at a time.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        pks: list[int],
        upto: int,
        chunk: int,
        cache: ChunkCache | None = None,
    ) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._pks = pks
        self._upto = upto
        self._chunk = chunk
        self._cache = cache
        """For one session, ``upto`` must be that session's own last event id; for several,
        the cache only receives the sessions read whole in one chunk."""
        self._buffer: list[tuple[int, bytes]] = []
        self._at = 0
        self._after = (-1, -1)
        self._done = not pks or upto <= 0

    async def _fill(self) -> None:
        after_pk, after_id = self._after
        if self._cache is not None and len(self._pks) == 1:
            pk = self._pks[0]
            cached = self._cache.get(pk, after_id, self._upto)
            if cached is not None:
                self._buffer, self._after, self._at = [(pk, cached[1])], (pk, cached[0]), 0
                self._done = cached[0] == self._upto
                return
        async with self._engine.connect() as conn:
            if len(self._pks) == 1:
                pk = self._pks[0]
                last, count, joined = (
                    await conn.execute(
                        session_event_documents(self._dialect),
                        {"pk": pk, "after": after_id, "upto": self._upto, "chunk": self._chunk},
                    )
                ).one()
                document = joined.encode() if count else b""
                self._buffer = [(pk, document)] if count else []
                self._after = (pk, last) if count else self._after
                if self._cache is not None and count:
                    full = count == self._chunk
                    self._cache.put(pk, after_id, last, document, full=full)
                self._done = count < self._chunk or last == self._upto
            else:
                rows = (
                    await conn.execute(
                        event_documents(self._dialect),
                        {
                            "pks": self._pks,
                            "upto": self._upto,
                            "after_pk": after_pk,
                            "after_id": after_id,
                            "chunk": self._chunk,
                        },
                    )
                ).all()
                count = len(rows)
                groups = [
                    (pk, list(group)) for pk, group in itertools.groupby(rows, key=lambda r: r[0])
                ]
                self._buffer = [
                    (pk, ",".join(row[2] for row in group).encode()) for pk, group in groups
                ]
                if self._cache is not None:
                    self._keep_whole_sessions(groups, after_pk, count)
                if rows:
                    self._after = (rows[-1][0], rows[-1][1])
                self._done = count < self._chunk
        self._at = 0

    def _keep_whole_sessions(
        self, groups: list[tuple[int, list[Any]]], after_pk: int, count: int
    ) -> None:
        """Cache the sessions this chunk holds from their first event to their last — as
        the first chunk a one-session read would build (``after`` -1), so both reads
        share it. The chunk's first session may have begun in the previous chunk, and
        its last may go on in the next one, unless this was the final chunk."""
        assert self._cache is not None
        for index, (pk, group) in enumerate(groups):
            began_here = index > 0 or pk != after_pk
            ended_here = index < len(groups) - 1 or count < self._chunk
            if began_here and ended_here and len(group) <= self._chunk:
                document = self._buffer[index][1]
                full = len(group) == self._chunk
                self._cache.put(pk, -1, group[-1][1], document, full=full)

    async def pieces_of(self, pk: int) -> AsyncIterator[bytes]:
        while True:
            if self._at == len(self._buffer):
                if self._done:
                    return
                await self._fill()
                continue
            session_pk, doc = self._buffer[self._at]
            if session_pk != pk:
                return  # a later session's (an earlier one's was consumed before)
            self._at += 1
            yield doc


def raw_json(column: Any) -> Any:
    """A JSON column read as its text (``CAST … AS TEXT`` is the same on both dialects)."""
    return cast(column, Text)


def decode(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def fragment(text: str | None) -> Any:
    """Stored JSON text, to be written into a response as it is: no decode, no re-encode."""
    return None if text is None else orjson.Fragment(text)
