"""The Repository: the one place that speaks SQL for the rest of datacat.

Writes are handed to the group-commit ``Writer``; reads run on the pool (on SQLite, WAL
lets them proceed beside the writer). Every list is paged or streamed: nothing here loads
all sessions, events or metrics into memory.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from datacat.store import bucketruns, ids, logged, transitions
from datacat.store import status as rules
from datacat.store.chunkcache import ChunkCache
from datacat.store.database import WRITE_OPTION, create_engine
from datacat.store.eventsearch import EventQuery, run_event_search, text_matches
from datacat.store.exceptions import ExceptionStore
from datacat.store.hooks import HookStore
from datacat.store.hooktables import session_transitions
from datacat.store.keys import KeyStore
from datacat.store.metricquery import ExplorerResult, SeriesResult, run_explorer, run_series
from datacat.store.ops import CreateSession, Op, WriteResult
from datacat.store.prune import Pruner, Removed
from datacat.store.releases import Release, ReleaseQuery, run_releases
from datacat.store.seriesquery import SeriesQuery
from datacat.store.statefilter import StateFilter, state_condition
from datacat.store.statusseries import StatusSeries, StatusSeriesQuery, run_status_series
from datacat.store.tables import (
    events,
    metric_buckets,
    metric_names,
    metrics,
    sessions,
    state_history,
)
from datacat.store.writelock import WriteLock
from datacat.store.writer import Writer
from datacat.timefmt import now_us

EXPORT_PAGE = 500
EXPORT_CHUNK = 5000
CHUNK_CACHE_BYTES = 32 * 1024 * 1024
"""Memory for the finished JSON of long sessions' events (``chunkcache``), per process."""
SESSION_COLUMNS = (
    sessions.c.pk,
    sessions.c.id,
    sessions.c.created_us,
    sessions.c.updated_us,
    sessions.c.ended_us,
    sessions.c.last_seen_us,
    sessions.c.active,
    sessions.c.status,
    sessions.c.state,
    sessions.c.product,
    sessions.c.version,
    sessions.c.host,
    sessions.c.metadata,
    sessions.c.heartbeat_timeout_s,
)
SORTS = {
    "created_at": sessions.c.created_us,
    "updated_at": sessions.c.updated_us,
    "last_seen_at": sessions.c.last_seen_us,
}


class SessionNotFound(LookupError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id} not found")
        self.session_id = session_id


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SessionFilter:
    status: str | None = None
    active: bool | None = None
    product: str | None = None
    created_after_us: int | None = None
    created_before_us: int | None = None
    state: StateFilter | None = None
    # Issue 12: what the session logged. Each is an EXISTS on the session's events, read
    # through ix_events_session (session_pk, id): cheap per candidate session, but it
    # reads every event of sessions that lack a match (no (session_pk, name) index).
    version: str | None = None
    event: str | None = None
    ever_hung: bool | None = None
    q: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


CURSOR_PART = "-?[0-9]{1,18}"
SESSION_CURSOR = f"^{CURSOR_PART}\\.{CURSOR_PART}$"
"""A session listing's cursor: the sort column's value and the row's key, ``value.pk``."""
ROW_CURSOR = f"^{CURSOR_PART}$"
"""An events, metrics or state-history cursor: the last row's id."""
_PART = re.compile(CURSOR_PART)


def encode_cursor(values: Sequence[int]) -> str:
    """Plain digits: any cursor matching the documented pattern is a position to page from.

    (Base64 JSON used to be here; a client could send a well-formed-looking cursor the
    schema could not describe, and the server refused it.)
    """
    return ".".join(str(value) for value in values)


def decode_cursor(cursor: str, length: int) -> list[int]:
    parts = cursor.split(".")
    if len(parts) != length or not all(_PART.fullmatch(part) for part in parts):
        raise InvalidCursor("cursor is not one this server issued")
    return [int(part) for part in parts]


class Repository:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # Every write of this process, the sweeper's too, holds it (see writelock).
        self._lock = WriteLock.for_url(str(engine.url))
        self._chunks = ChunkCache(CHUNK_CACHE_BYTES) if self.dialect == "sqlite" else None
        self._writer = Writer(engine, self._lock)
        self.keys = KeyStore(engine, self._lock)
        self.exceptions = ExceptionStore(engine)  # groups (``store.exceptions``)
        self.hooks = HookStore(engine, self._lock)
        self._pruner = Pruner(engine, self._lock)

    @property
    def writer(self) -> Writer:
        """The group-commit writer, for what watches it (``observers``, ``queue_depth``:
        the Prometheus page); writes themselves go through the methods below."""
        return self._writer

    @classmethod
    def from_url(cls, url: str, pool_size: int = 10) -> Repository:
        return cls(create_engine(url, pool_size=pool_size))

    async def start(self) -> None:
        self._writer.start()

    async def close(self) -> None:
        await self._writer.stop()
        await self.engine.dispose()
        self._lock.close()

    # -- writes -----------------------------------------------------------------------

    async def create_session(self, op: CreateSession) -> str:
        await self._writer.submit([op])
        return op.session_id

    @staticmethod
    def new_session_id() -> str:
        return ids.new_session_id()

    async def write(self, op: Op) -> WriteResult:
        """One write; raises ``SessionNotFound`` if its session does not exist."""
        if not _plausible_id(op.session_id):
            raise SessionNotFound(op.session_id)
        result = await self._writer.submit([op])
        if result.missing:
            raise SessionNotFound(op.session_id)
        return result

    async def write_batch(self, ops: Sequence[Op]) -> WriteResult:
        """All or nothing: if any op names an unknown session, ``missing`` lists them."""
        return await self._writer.submit(ops)

    async def sweep_abandoned(self, now: int | None = None) -> int:
        """Mark live sessions silent past their heartbeat timeout; safe in many processes."""
        now = now_us() if now is None else now
        async with self._lock.hold(), self.engine.connect() as conn:
            conn = await conn.execution_options(**{WRITE_OPTION: True})
            async with conn.begin():
                result = await conn.execute(
                    update(sessions)
                    .where(
                        sessions.c.status.in_((rules.ACTIVE, rules.HUNG)),
                        sessions.c.heartbeat_timeout_s.is_not(None),
                        sessions.c.last_seen_us + sessions.c.heartbeat_timeout_s * 1_000_000 < now,
                    )
                    .values(status=rules.ABANDONED)
                    .returning(sessions.c.pk)
                )
                marked = [(pk, rules.ABANDONED) for pk in result.scalars()]
                if marked:  # journalled with the change, for webhooks (``transitions``)
                    await conn.execute(session_transitions.insert(), transitions.rows(marked, now))
        return len(marked)

    async def delete_session(self, session_id: str) -> Removed:
        """Delete a session with its events, metrics and state history (``store.prune``);
        later reads and writes naming it answer ``SessionNotFound``."""
        async with self.engine.connect() as conn:
            pk = (await self._session_row(conn, session_id))["pk"]
        removed = await self._pruner.delete([pk])
        if not removed.sessions:  # another deletion got there first
            raise SessionNotFound(session_id)
        return removed

    def prune(self, cutoff_us: int, limit: int | None = None) -> AsyncIterator[Removed]:
        """Delete sessions whose last activity is older than ``cutoff_us``, oldest first and
        at most ``limit``; yields what each round removed (``store.prune``)."""
        return self._pruner.older_than(cutoff_us, limit)

    async def count_prunable(self, cutoff_us: int) -> Removed:
        """What ``prune(cutoff_us)`` would delete now."""
        return await self._pruner.count(cutoff_us)

    # -- reads ------------------------------------------------------------------------

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def get_session(self, session_id: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            return await self._session_row(conn, session_id)

    async def session_snapshot(self, session_id: str) -> dict[str, Any]:
        """A session's row plus the last event and metric ids it holds now.

        The ids bound what ``session_document`` reads, so the document is the session as
        of this moment even while writes go on, and together with ``updated_us`` (which
        every write to the session moves) they make its ETag.
        """
        async with self.engine.connect() as conn:
            return await self._session_row(
                conn,
                session_id,
                _last_id(events).label("event_upto"),
                _last_id(metrics).label("metric_upto"),
            )

    async def session_document(self, snapshot: dict[str, Any]) -> AsyncIterator[tuple[str, Any]]:
        """The events (``("events", json_bytes)`` pieces, built by the database) and then the
        metrics (``("metrics", rows)``) of a ``session_snapshot``, in bounded chunks."""
        pk = snapshot["pk"]
        reader = logged.SessionEvents(
            self.engine, pk, snapshot["event_upto"], EXPORT_CHUNK, self._chunks
        )
        async for piece in reader.pieces():
            yield "events", piece
        if not snapshot["metric_upto"]:
            return
        metric_rows = logged.ChunkedRows(
            self.engine,
            metrics,
            lambda pks: logged.metric_query(pks).where(metrics.c.id <= snapshot["metric_upto"]),
            logged.metric_dict,
            logged.fragment,
            [pk],
            EXPORT_CHUNK,
        )
        async for chunk in metric_rows.rows_of(pk):
            yield "metrics", chunk

    async def export_version(self) -> tuple[int, int, int, int]:
        """What changes whenever anything an export could show changes: the newest session
        activity, the number of sessions, and the last event and metric ids."""
        async with self.engine.connect() as conn:
            updated, count = (
                await conn.execute(
                    select(func.coalesce(func.max(sessions.c.updated_us), 0), func.count())
                )
            ).one()
            last_event = await conn.scalar(select(func.coalesce(func.max(events.c.id), 0)))
            last_metric = await conn.scalar(select(func.coalesce(func.max(metrics.c.id), 0)))
        return int(updated), int(count), int(last_event or 0), int(last_metric or 0)

    async def export_sessions(
        self, filters: SessionFilter, limit: int | None, upto: tuple[int, int] | None = None
    ) -> AsyncIterator[tuple[str, Any]]:
        """Every matching session with its events and metrics, oldest first, as a stream.

        Yields ``("session", row)``, then that session's ``("events", json_bytes)`` pieces
        (built by the database), then its ``("metrics", rows)`` chunks. Sessions are read a
        page at a time and their events and metrics in bounded chunks, so memory stays flat
        however many sessions there are and however many events one of them holds.
        ``upto`` (last event id, last metric id) leaves out what arrives during the export.
        """
        if upto is None:
            _, _, last_event, last_metric = await self.export_version()
        else:
            last_event, last_metric = upto
        after = 0
        remaining = limit
        while remaining is None or remaining > 0:
            size = EXPORT_PAGE if remaining is None else min(EXPORT_PAGE, remaining)
            # Each session's own last event id and how many events it has (an index-only
            # count, cheap beside exporting them): how to read them (``logged.PageEvents``).
            own_last = _last_id(events, events.c.id <= last_event)
            own_count = (
                select(func.count())
                .where(events.c.session_pk == sessions.c.pk, events.c.id <= last_event)
                .scalar_subquery()
            )
            query = (
                select(*SESSION_COLUMNS, own_last.label("event_upto"), own_count.label("n"))
                .where(sessions.c.pk > after, *self._conditions(filters))
                .order_by(sessions.c.pk)
                .limit(size)
            )
            async with self.engine.connect() as conn:
                page = [dict(r) for r in (await conn.execute(query)).mappings()]
            if not page:
                return
            pks = [row["pk"] for row in page]
            event_docs = logged.PageEvents(
                self.engine,
                [logged.PageSession(r["pk"], r["event_upto"], r["n"]) for r in page],
                last_event,
                EXPORT_CHUNK,
                self._chunks,
            )
            metric_stream = logged.ChunkedRows(
                self.engine,
                metrics,
                lambda pks: logged.metric_query(pks).where(metrics.c.id <= last_metric),
                logged.metric_dict,
                logged.fragment,
                pks,
                EXPORT_CHUNK,
            )
            for row in page:
                yield "session", row
                async for piece in event_docs.pieces_of(row["pk"]):
                    yield "events", piece
                async for chunk in metric_stream.rows_of(row["pk"]):
                    yield "metrics", chunk
            after = pks[-1]
            if remaining is not None:
                remaining -= len(page)

    async def list_sessions(
        self,
        filters: SessionFilter,
        sort: str = "created_at",
        descending: bool = True,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        column = SORTS[sort]
        conditions = self._conditions(filters)
        if cursor is not None:
            value, pk = decode_cursor(cursor, 2)
            if descending:
                conditions.append(or_(column < value, and_(column == value, sessions.c.pk < pk)))
            else:
                conditions.append(or_(column > value, and_(column == value, sessions.c.pk > pk)))
        order = (column.desc(), sessions.c.pk.desc()) if descending else (column, sessions.c.pk)
        query = select(*SESSION_COLUMNS).where(*conditions).order_by(*order).limit(limit + 1)
        async with self.engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(query)).mappings()]
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = encode_cursor([last[column.name], last["pk"]])
        return Page(rows, next_cursor)

    async def list_events(
        self,
        session_id: str,
        name: str | None = None,
        since_us: int | None = None,
        until_us: int | None = None,
        cursor: str | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> Page:
        """A session's events, oldest first; ``newest_first`` pages from the latest
        backwards instead (a live view wants the newest on its first page)."""
        return await self._list_logged(
            events,
            (
                events.c.name,
                events.c.data,
                events.c.level,
                events.c.message,
                events.c.category,
                events.c.labels,
            ),
            session_id,
            name,
            since_us,
            until_us,
            cursor,
            limit,
            newest_first,
        )

    async def search_events(self, query: EventQuery, cursor: str | None = None) -> Page:
        """Events of every session, newest first (``store.eventsearch``)."""
        if cursor is not None:
            ts_us, event_id = decode_cursor(cursor, 2)
            query = replace(query, after=(ts_us, event_id))
        async with self.engine.connect() as conn:
            rows = await run_event_search(conn, query, self.dialect)
        if len(rows) <= query.limit:
            return Page(rows, None)
        rows = rows[: query.limit]
        return Page(rows, encode_cursor([rows[-1]["ts_us"], rows[-1]["id"]]))

    async def list_metrics(
        self,
        session_id: str,
        name: str | None = None,
        since_us: int | None = None,
        until_us: int | None = None,
        cursor: str | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> Page:
        """A session's metrics, oldest first (``newest_first``: from the latest backwards).

        A pre-aggregated histogram's row also holds ``observations`` (its count) and
        ``buckets`` (``(le, count)`` pairs as sent: ascending, +Inf last), read for the
        whole page in one more query; a plain row holds neither key.
        """
        return await self._list_logged(
            metrics,
            (
                metrics.c.name,
                metrics.c.value,
                metrics.c.tags,
                metrics.c.kind,
                metrics.c.unit,
                metrics.c.observations,
            ),
            session_id,
            name,
            since_us,
            until_us,
            cursor,
            limit,
            newest_first,
            _with_buckets,
        )

    async def state_history(
        self, session_id: str, cursor: str | None = None, limit: int = 500
    ) -> Page:
        async with self.engine.connect() as conn:
            pk = (await self._session_row(conn, session_id))["pk"]
            conditions = [state_history.c.session_pk == pk]
            if cursor is not None:
                conditions.append(state_history.c.id > decode_cursor(cursor, 1)[0])
            query = (
                select(state_history.c.id, state_history.c.ts_us, state_history.c.patch)
                .where(*conditions)
                .order_by(state_history.c.id)
                .limit(limit + 1)
            )
            rows = [dict(r) for r in (await conn.execute(query)).mappings()]
        return _page(rows, limit)

    async def metric_names(self) -> list[str]:
        async with self.engine.connect() as conn:
            result = await conn.execute(select(metric_names.c.name).order_by(metric_names.c.name))
            return list(result.scalars())

    async def metric_names_for(self, session_id: str) -> list[str]:
        async with self.engine.connect() as conn:
            pk = (await self._session_row(conn, session_id))["pk"]
            result = await conn.execute(
                select(metrics.c.name)
                .where(metrics.c.session_pk == pk)
                .distinct()
                .order_by(metrics.c.name)
            )
            return list(result.scalars())

    async def metric_series(self, query: SeriesQuery) -> SeriesResult:
        condition = state_condition(query.state, self.dialect) if query.state is not None else None
        async with self.engine.connect() as conn:
            return await run_series(conn, query, condition)

    async def metric_explorer(self, query: SeriesQuery) -> ExplorerResult:
        """The series with ``bucket`` and/or ``group_by`` (issue 12)."""
        condition = state_condition(query.state, self.dialect) if query.state is not None else None
        async with self.engine.connect() as conn:
            return await run_explorer(conn, query, condition)

    async def releases(self, query: ReleaseQuery) -> list[Release]:
        """Release health per product and version (``store.releases``)."""
        async with self.engine.connect() as conn:
            return await run_releases(conn, query)

    async def status_series(self, query: StatusSeriesQuery) -> StatusSeries:
        """Sessions by creation-time bucket and current status (``store.statusseries``)."""
        async with self.engine.connect() as conn:
            return await run_status_series(conn, query)

    async def status_counts(self) -> dict[str, int]:
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(sessions.c.status, func.count()).group_by(sessions.c.status)
            )
            counts = dict.fromkeys(rules.STATUSES, 0)
            counts.update(result.all())
            return counts

    async def logged_since(self, since_us: int) -> tuple[int, int]:
        """How many events and metrics arrived (by their timestamp) since ``since_us``."""
        async with self.engine.connect() as conn:
            n_events = await conn.scalar(
                select(func.count()).select_from(events).where(events.c.ts_us >= since_us)
            )
            n_metrics = await conn.scalar(
                select(func.count()).select_from(metrics).where(metrics.c.ts_us >= since_us)
            )
            return int(n_events or 0), int(n_metrics or 0)

    # -- helpers ----------------------------------------------------------------------

    def _conditions(self, filters: SessionFilter) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if filters.status is not None:
            conditions.append(sessions.c.status == filters.status)
        if filters.active is not None:
            conditions.append(sessions.c.active == filters.active)
        if filters.product is not None:
            conditions.append(sessions.c.product == filters.product)
        if filters.created_after_us is not None:
            conditions.append(sessions.c.created_us >= filters.created_after_us)
        if filters.created_before_us is not None:
            conditions.append(sessions.c.created_us < filters.created_before_us)
        if filters.state is not None:
            conditions.append(state_condition(filters.state, self.dialect))
        if filters.version is not None:
            conditions.append(sessions.c.version == filters.version)
        if filters.event is not None:
            conditions.append(_logged(events.c.name == filters.event))
        if filters.ever_hung is not None:
            hung = _logged(events.c.name == rules.HUNG_EVENT)
            conditions.append(hung if filters.ever_hung else ~hung)
        if filters.q is not None:
            found = text_matches(filters.q, self.dialect)
            conditions.append(_logged(found))
        return conditions

    async def _session_row(
        self, conn: AsyncConnection, session_id: str, *extra: ColumnElement[Any]
    ) -> dict[str, Any]:
        if not _plausible_id(session_id):
            raise SessionNotFound(session_id)
        query = select(*SESSION_COLUMNS, *extra).where(sessions.c.id == session_id)
        result = await conn.execute(query)
        row = result.mappings().first()
        if row is None:
            raise SessionNotFound(session_id)
        return dict(row)

    async def _list_logged(
        self,
        table: Any,
        columns: tuple[Any, ...],
        session_id: str,
        name: str | None,
        since_us: int | None,
        until_us: int | None,
        cursor: str | None,
        limit: int,
        newest_first: bool = False,
        complete: Callable[[AsyncConnection, int, list[dict[str, Any]]], Awaitable[None]]
        | None = None,
    ) -> Page:
        """A page of ``table``'s rows; ``complete`` adds to them what other tables hold,
        on the same connection (``_with_buckets``)."""
        async with self.engine.connect() as conn:
            pk = (await self._session_row(conn, session_id))["pk"]
            conditions = [table.c.session_pk == pk]
            if name is not None:
                conditions.append(table.c.name == name)
            if since_us is not None:
                conditions.append(table.c.ts_us >= since_us)
            if until_us is not None:
                conditions.append(table.c.ts_us < until_us)
            if cursor is not None:
                after = decode_cursor(cursor, 1)[0]
                conditions.append(table.c.id < after if newest_first else table.c.id > after)
            query = (
                select(table.c.id, table.c.ts_us, *columns)
                .where(*conditions)
                .order_by(table.c.id.desc() if newest_first else table.c.id)
                .limit(limit + 1)
            )
            rows = [dict(r) for r in (await conn.execute(query)).mappings()]
            page = _page(rows, limit)
            if complete is not None:
                await complete(conn, pk, page.items)
        return page


async def _with_buckets(conn: AsyncConnection, pk: int, rows: list[dict[str, Any]]) -> None:
    """Each histogram row of a page gets its ``buckets``, all read in one query by the
    page's names and times (the bucket rows' key); a plain row loses its (NULL)
    ``observations``."""
    histograms: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        if row["observations"] is None:
            del row["observations"]
        else:
            histograms.setdefault((row["name"], row["ts_us"]), []).append(row)
    if not histograms:
        return
    query = (
        select(
            metric_buckets.c.name,
            metric_buckets.c.ts_us,
            metric_buckets.c.le,
            metric_buckets.c.count,
        )
        .where(
            metric_buckets.c.session_pk == pk,
            # Not the (name, ts_us) pairs: SQLite reads every bucket of the session for a
            # row-value IN, where two INs are index lookups (a pair the page does not
            # hold costs the few rows read and never looked up).
            metric_buckets.c.name.in_(sorted({name for name, _ in histograms})),
            metric_buckets.c.ts_us.in_(sorted({ts_us for _, ts_us in histograms})),
        )
        .order_by(metric_buckets.c.id)
    )
    stored: dict[tuple[str, int], list[bucketruns.LeCount]] = {}
    for name, ts_us, le, count in await conn.execute(query):
        stored.setdefault((name, ts_us), []).append((le, count))
    for key, same_key in histograms.items():
        runs = bucketruns.bucket_runs(stored.get(key, []))
        for row in sorted(same_key, key=lambda row: int(row["id"])):
            row["buckets"] = bucketruns.take_run(runs, row["observations"])


def _last_id(table: Any, *conditions: ColumnElement[bool]) -> Any:
    """The newest id of ``table``'s rows for the session of the enclosing query (0: none)."""
    return (
        select(func.coalesce(func.max(table.c.id), 0))
        .where(table.c.session_pk == sessions.c.pk, *conditions)
        .scalar_subquery()
    )


def _logged(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """The enclosing query's session logged an event meeting ``condition``."""
    return exists().where(events.c.session_pk == sessions.c.pk, condition)


def _plausible_id(session_id: str) -> bool:
    """Ids are uuids; anything PostgreSQL cannot even compare (NUL) is simply unknown."""
    return 0 < len(session_id) <= 64 and "\x00" not in session_id


def _page(rows: list[dict[str, Any]], limit: int) -> Page:
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, encode_cursor([rows[-1]["id"]]))
