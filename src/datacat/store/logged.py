"""Reading the events and metrics of session documents, in bounded chunks.

Metric rows' JSON columns are read as text and handed on as ``orjson.Fragment``, so a
response writes stored JSON through without decoding it (per-row type processing cost
more than the rest of the read for a large session).

Events, which make up most of a session document, go further: the database writes their
wire JSON itself (``session_event_documents``, ``whole_sessions_documents``), so a
10,000-event session costs Python one string instead of 10,000 rows, and the work runs
in the database's thread without holding the GIL. Metrics stay rows: their values are
floats, and neither SQLite nor PostgreSQL prints a float the way the API always has
(shortest round-trip, ``5.0`` not ``5``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Select, Table, Text, TextClause, bindparam, cast, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from datacat.store.chunkcache import ChunkCache
from datacat.store.tables import metrics


def metric_query(pks: list[int]) -> Select[Any]:
    return (
        select(
            metrics.c.session_pk,
            metrics.c.id,
            metrics.c.ts_us,
            metrics.c.name,
            metrics.c.value,
            raw_json(metrics.c.tags),
            metrics.c.kind,
            metrics.c.unit,
        )
        .where(metrics.c.session_pk.in_(pks))
        .order_by(metrics.c.session_pk, metrics.c.id)
    )


Decode = Callable[[str | None], Any]


def metric_dict(row: Any, decode: Decode) -> dict[str, Any]:
    return {
        "ts_us": row[2],
        "name": row[3],
        "value": row[4],
        "tags": decode(row[5]),
        "kind": row[6],
        "unit": row[7],
    }


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
        """printf('{"timestamp":"%s.%06dZ","name":%s,"data":%s,"level":%s,"message":%s,"""
        """"category":%s,"labels":%s}',"""
        " strftime('%Y-%m-%dT%H:%M:%S',"
        " (ts_us - ((ts_us % 1000000) + 1000000) % 1000000) / 1000000, 'unixepoch'),"
        " ((ts_us % 1000000) + 1000000) % 1000000, json_quote(name), coalesce(data, 'null'),"
        # json_quote(NULL) is the JSON null; a NULL level is the default, "info".
        " json_quote(coalesce(level, 'info')), json_quote(message), json_quote(category),"
        " coalesce(labels, 'null'))"
    ),
    "postgresql": (
        # Seconds and microseconds apart: one product would pass through a float8.
        """'{"timestamp":"' || to_char(timestamp '1970-01-01'"""
        " + (ts_us / 1000000) * interval '1 second' + (ts_us % 1000000) * interval '1 microsecond',"
        """ 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '","name":' || to_json(name)::text"""
        """ || ',"data":' || coalesce(data::text, 'null')"""
        """ || ',"level":' || to_json(coalesce(level, 'info'))::text"""
        """ || ',"message":' || coalesce(to_json(message)::text, 'null')"""
        """ || ',"category":' || coalesce(to_json(category)::text, 'null')"""
        """ || ',"labels":' || coalesce(labels::text, 'null') || '}'"""
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
def whole_sessions_documents(dialect: str) -> TextClause:
    """All events up to id ``:upto`` of each of the sessions ``:pks`` — each known to hold
    at most ``:chunk`` of them — as ``(session_pk, JSON objects joined by commas)``.

    One correlated subquery per session walks that session's index range in order, so
    the database needs no sort (SQLite's GROUP BY would sort, and would not promise to
    keep each session's events in order) and Python receives one string per session.
    """
    return text(
        f"SELECT s.pk, (SELECT {_JOINED[dialect]} FROM ("
        f" SELECT id, {_EVENT_JSON[dialect]} AS doc FROM events"
        " WHERE session_pk = s.pk AND id <= :upto ORDER BY id LIMIT :chunk) AS one)"
        " FROM sessions AS s WHERE s.pk IN :pks ORDER BY s.pk"
    ).bindparams(bindparam("pks", expanding=True))


class SessionEvents:
    """One session's events as JSON text, read in chunks from fixed starting points
    (after id -1, then after each full chunk's last id), which the chunk cache keys on.

    ``upto`` is the session's own last event id as of the reader's snapshot.
    """

    def __init__(
        self, engine: AsyncEngine, pk: int, upto: int, chunk: int, cache: ChunkCache | None
    ) -> None:
        self._engine = engine
        self._pk = pk
        self._upto = upto
        self._chunk = chunk
        self._cache = cache

    async def pieces(self) -> AsyncIterator[bytes]:
        after = -1
        query = session_event_documents(self._engine.dialect.name)
        while after < self._upto:
            cached = None if self._cache is None else self._cache.get(self._pk, after, self._upto)
            if cached is not None:
                after, document = cached
                yield document
                continue
            params = {"pk": self._pk, "after": after, "upto": self._upto, "chunk": self._chunk}
            async with self._engine.connect() as conn:
                last, count, joined = (await conn.execute(query, params)).one()
            if not count:
                return
            document = joined.encode()
            if self._cache is not None:
                self._cache.put(self._pk, after, last, document, full=count == self._chunk)
            yield document
            if count < self._chunk:
                return
            after = last


@dataclass(frozen=True, slots=True)
class PageSession:
    """What the export knows of a session before reading its events."""

    pk: int
    last_event: int
    """The session's own last event id as of the export's snapshot (0: none)."""
    events: int
    """How many events it holds up to the export's snapshot."""


class PageEvents:
    """The events of a page of sessions for the export, as JSON text per session.

    A session whose JSON is all in the chunk cache costs nothing; a session with more
    than one chunk of events is read alone, chunk by chunk; the rest are read together,
    as many consecutive sessions per query as fit in one chunk of events, so memory
    stays bounded by a chunk whatever the page holds. ``pieces_of`` must be called in
    the page's order.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        page: list[PageSession],
        upto: int,
        chunk: int,
        cache: ChunkCache | None,
    ) -> None:
        self._engine = engine
        self._upto = upto
        self._chunk = chunk
        self._cache = cache
        self._page = {session.pk: session for session in page}
        self._cached: dict[int, list[bytes]] = {}
        if cache is not None:
            for session in page:
                pieces = cache.session(session.pk, session.last_event)
                if pieces is not None:
                    self._cached[session.pk] = pieces
        self._batch_of: dict[int, list[int]] = {}
        batch: list[int] = []
        held = 0
        for session in page:
            if session.pk in self._cached or not 0 < session.events <= chunk:
                continue
            if batch and held + session.events > chunk:
                batch, held = [], 0
            batch.append(session.pk)
            held += session.events
            self._batch_of[session.pk] = batch
        self._read: dict[int, bytes] = {}

    async def pieces_of(self, pk: int) -> AsyncIterator[bytes]:
        session = self._page[pk]
        if pk in self._cached:
            for piece in self._cached.pop(pk):
                yield piece
        elif session.events > self._chunk:
            reader = SessionEvents(self._engine, pk, session.last_event, self._chunk, self._cache)
            async for piece in reader.pieces():
                yield piece
        elif session.events:
            if pk not in self._read:
                await self._read_batch(self._batch_of[pk])
            yield self._read.pop(pk)

    async def _read_batch(self, pks: list[int]) -> None:
        query = whole_sessions_documents(self._engine.dialect.name)
        params = {"pks": pks, "upto": self._upto, "chunk": self._chunk}
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query, params)).all()
        for pk, joined in rows:
            document = (joined or "").encode()
            self._read[pk] = document
            if self._cache is not None:
                session = self._page[pk]
                full = session.events == self._chunk
                self._cache.put(pk, -1, session.last_event, document, full=full)


def raw_json(column: Any) -> Any:
    """A JSON column read as its text (``CAST … AS TEXT`` is the same on both dialects)."""
    return cast(column, Text)


def fragment(text: str | None) -> Any:
    """Stored JSON text, to be written into a response as it is: no decode, no re-encode."""
    return None if text is None else orjson.Fragment(text)
