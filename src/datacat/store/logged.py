"""Reading events and metrics: their queries, row decoding, and chunked streaming.

JSON columns are read as text and decoded by orjson (several times faster, for the
thousands of rows a session can hold, than per-row type processing) — or handed on as
``orjson.Fragment`` so a response writes stored JSON through without decoding it at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from sqlalchemy import Select, Table, Text, cast, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

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


def raw_json(column: Any) -> Any:
    """A JSON column read as its text (``CAST … AS TEXT`` is the same on both dialects)."""
    return cast(column, Text)


def decode(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def fragment(text: str | None) -> Any:
    """Stored JSON text, to be written into a response as it is: no decode, no re-encode."""
    return None if text is None else orjson.Fragment(text)
