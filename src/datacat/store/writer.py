"""Group commit: every write in the process goes through one writer task.

Requests put a *unit* (a list of ops that must succeed or fail together: one POST, or one
``POST /api/batch``) on a queue; the writer takes everything waiting, applies it in one
transaction with bulk inserts, commits once, and answers each unit. Under load this turns
thousands of tiny transactions into a few large ones — what SQLite's single writer needs,
and fewer fsyncs for PostgreSQL too. If a group fails for a reason other than a missing
session, it is rolled back and each unit is retried alone, so one unit cannot sink others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from datacat import memory
from datacat.store import status as rules
from datacat.store import transitions
from datacat.store.bulk import (
    EVENTS,
    HISTOGRAMS,
    METRIC_BUCKETS,
    METRICS,
    STATE_HISTORY,
    insert_rows,
)
from datacat.store.database import BUSY_TIMEOUT_MS, create_sync_writer, is_unavailable
from datacat.store.ops import CreateSession, LogEvent, Op, UpdateState, WriteResult
from datacat.store.plan import GroupPlan, SessionRow, needs_row, plan
from datacat.store.tables import events, metric_names, sessions, state_history
from datacat.store.writelock import WriteLock
from datacat.timefmt import now_us

log = logging.getLogger(__name__)

MAX_GROUP_OPS = 5_000
# Session id → pk entries kept in memory; past this the cache starts over (a miss costs
# one indexed SELECT per group), so memory stays bounded however many sessions exist.
PK_CACHE_LIMIT = 100_000
# After a group this large, once the queue is empty, return freed heap to the OS.
TRIM_AFTER_OPS = 1_000
_RETRIES = 3

GroupObserver = Callable[[int, Mapping[str, int]], None]
"""Told of each committed group: its number of ops and the rows it inserted per table."""


class _StaleSessions(Exception):
    """A cached pk names a session that is gone: another process (or this one) deleted it."""


@dataclass(slots=True)
class _Unit:
    ops: Sequence[Op]
    future: asyncio.Future[WriteResult]
    result: WriteResult = field(default_factory=WriteResult)


class Writer:
    def __init__(self, engine: AsyncEngine, lock: WriteLock) -> None:
        self._engine = engine
        self._sync_engine = create_sync_writer(engine)
        self._lock = lock
        self._dialect = engine.dialect.name
        self._queue: asyncio.Queue[_Unit] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._pks: dict[str, int] = {}
        self._busy_ms = BUSY_TIMEOUT_MS
        self._written: dict[str, int] = {}
        self.observers: list[GroupObserver] = []

    @property
    def queue_depth(self) -> int:
        """Units waiting for the next group (what a metrics scrape reports)."""
        return self._queue.qsize()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="datacat-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        while not self._queue.empty():
            unit = self._queue.get_nowait()
            if not unit.future.done():
                unit.future.set_exception(RuntimeError("datacat is shutting down"))
        if self._sync_engine is not None:
            self._sync_engine.dispose()

    async def submit(self, ops: Sequence[Op]) -> WriteResult:
        """Apply ``ops`` atomically; the result lists indexes of ops naming unknown sessions."""
        if self._task is None or self._task.done():
            raise RuntimeError("the writer is not running")
        unit = _Unit(ops, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(unit)
        return await unit.future

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            # One turn of the loop first: requests already read but not yet parsed join
            # this group instead of waiting for the next (groups of ~14 → ~24 at 32
            # connections; each commit costs about the same whatever its size).
            await asyncio.sleep(0)
            size = len(group[0].ops)
            while size < MAX_GROUP_OPS and not self._queue.empty():
                unit = self._queue.get_nowait()
                group.append(unit)
                size += len(unit.ops)
            try:
                await self._apply_group(group)
                if size >= TRIM_AFTER_OPS and self._queue.empty():
                    memory.trim()
            except asyncio.CancelledError:
                for unit in group:
                    if not unit.future.done():
                        unit.future.set_exception(RuntimeError("datacat is shutting down"))
                raise

    async def _apply_group(self, group: list[_Unit]) -> None:
        try:
            await self._transaction(group)
        except Exception as exc:
            # Retrying each unit alone finds the one whose content sinks the group; when
            # the database itself is unavailable (locked, full, unreachable) every unit
            # would only fail again, each after its own wait: answer them all now (503).
            if len(group) == 1 or is_unavailable(exc):
                self._fail(group, exc)
                return
            log.warning("group of %d writes failed (%s); retrying each alone", len(group), exc)
            for unit in group:
                if unit.future.done():
                    continue
                unit.result = WriteResult()
                try:
                    await self._transaction([unit])
                except Exception as unit_exc:
                    self._fail([unit], unit_exc)
                    continue
                self._answer([unit])
            return
        self._answer(group)

    @staticmethod
    def _answer(group: list[_Unit]) -> None:
        for unit in group:
            if not unit.future.done():
                unit.future.set_result(unit.result)

    @staticmethod
    def _fail(group: list[_Unit], exc: Exception) -> None:
        log.error("write failed: %s", exc)
        for unit in group:
            if not unit.future.done():
                unit.future.set_exception(exc)

    async def _transaction(self, group: list[_Unit]) -> None:
        for attempt in range(_RETRIES):
            try:
                created: list[str] = []
                try:
                    async with self._lock.hold():
                        await self._run_transaction(group, created)
                except BaseException:
                    # A rolled-back session must not stay in the cache as if it existed.
                    for session_id in created:
                        self._pks.pop(session_id, None)
                    raise
                self._wait_for_locks(BUSY_TIMEOUT_MS)
                self._notify(group)
                return
            except (_StaleSessions, IntegrityError) as exc:
                # A session deleted since its pk was cached: forget the group's pks and
                # look them up again, so writes to the deleted one are answered missing.
                if attempt + 1 == _RETRIES or not _names_deleted_session(exc):
                    raise
                for unit in group:
                    unit.result = WriteResult()
                    for op in unit.ops:
                        self._pks.pop(op.session_id, None)
            except DBAPIError as exc:
                # Lock contention between processes (a PostgreSQL deadlock) is worth
                # another go; anything else is not. SQLite busy is not either: the busy
                # timeout has already waited, on the loop's thread, for a lock held by a
                # foreign process (datacat's own processes queue on the lock file), and
                # waiting again would stall every request for as long.
                on_sqlite_file = self._sync_engine is not None
                if on_sqlite_file and _is_contention(exc):
                    self._wait_for_locks(0)
                if attempt + 1 == _RETRIES or not _is_contention(exc) or on_sqlite_file:
                    raise
                for unit in group:
                    unit.result = WriteResult()
                await asyncio.sleep(0.05 * (attempt + 1))

    def _notify(self, group: list[_Unit]) -> None:
        if not self.observers:
            return
        ops = sum(len(unit.ops) for unit in group)
        for observer in self.observers:
            try:
                observer(ops, self._written)
            except Exception:  # telemetry must never fail a write that has committed
                log.exception("writer observer failed")

    def _wait_for_locks(self, busy_ms: int) -> None:
        """How long the SQLite writer waits for a foreign lock: the busy timeout normally,
        no time at all once a write found the database locked past it, until one gets
        through. A foreign lock then stalls the loop once, not once per group."""
        if self._sync_engine is None or busy_ms == self._busy_ms:
            return
        with self._sync_engine.connect() as conn:
            sqlite_connection = conn.connection.dbapi_connection
            assert sqlite_connection is not None
            sqlite_connection.cursor().execute(f"PRAGMA busy_timeout={busy_ms}")
        self._busy_ms = busy_ms

    async def _run_transaction(self, group: list[_Unit], created: list[str]) -> None:
        """One transaction around ``_write``, which is plain blocking code on a sync
        connection. On SQLite that connection is a ``sqlite3`` one used right here on the
        event loop's thread: a group takes well under a millisecond of SQLite's time, while
        the same statements through aiosqlite each waited for a thread hop and then for
        the busy event loop to come round — 2.5 ms a group, with the write lock held all
        along. On PostgreSQL ``run_sync`` drives the same code over asyncpg."""
        if self._sync_engine is not None:
            with self._sync_engine.connect() as conn, conn.begin():
                self._write(conn, group, created)
            return
        async with self._engine.connect() as aconn, aconn.begin():
            await aconn.run_sync(self._write, group, created)

    def _write(self, conn: Connection, group: list[_Unit], created: list[str]) -> None:
        if len(self._pks) > PK_CACHE_LIMIT:
            self._pks.clear()
        now = now_us()
        self._create_sessions(conn, group, now, created)
        live = self._resolve(conn, group)
        rows = self._load_rows(conn, live)
        applied = self._applied_patches(conn, live)
        planned = plan(
            [unit.ops for unit in live],
            self._pks,
            rows,
            applied,
            now,
            applied_events=self._applied_status_events(conn, live),
        )
        for unit, accepted, duplicates in zip(
            live, planned.accepted, planned.duplicates, strict=True
        ):
            unit.result.accepted += accepted
            unit.result.duplicates += duplicates

        inserted: set[tuple[str, int, str]] = set()
        for spec, plain, keyed in (
            (EVENTS, planned.events_plain, planned.events_keyed),
            (METRICS, planned.metrics_plain, planned.metrics_keyed),
            (HISTOGRAMS, planned.histograms_plain, planned.histograms_keyed),
        ):
            insert_rows(conn, spec, plain, skip_duplicates=False)
            for pk, client_id in insert_rows(conn, spec, keyed, skip_duplicates=True):
                inserted.add((spec.name, pk, client_id))
        if planned.buckets:
            metric = METRICS.name
            buckets = [
                row
                for client_id, row in planned.buckets
                if client_id is None or (metric, row[0], client_id) in inserted
            ]
            insert_rows(conn, METRIC_BUCKETS, buckets, skip_duplicates=False)
        for index, table, pk, client_id in planned.pending:
            if (table, pk, client_id) in inserted:
                live[index].result.accepted += 1
            else:
                live[index].result.duplicates += 1
        insert_rows(conn, STATE_HISTORY, planned.history, skip_duplicates=False)
        if self.observers:
            self._written = {
                EVENTS.name: len(planned.events_plain) + len(planned.events_keyed),
                METRICS.name: len(planned.metrics_plain) + len(planned.metrics_keyed),
                STATE_HISTORY.name: len(planned.history),
            }
        if planned.metric_names:
            names = [{"name": name} for name in sorted(planned.metric_names)]
            conn.execute(self._insert(metric_names).on_conflict_do_nothing(), names)
        self._touch(conn, planned, now)
        # In this transaction: webhooks learn of a crash or hang exactly when it commits.
        transitions.record(conn, transitions.trouble(rows, planned.rewrites), now)

    def _applied_patches(self, conn: Connection, group: list[_Unit]) -> set[tuple[int, str]]:
        """State patches in this group whose client id was applied before (a resend)."""
        keyed = [
            (self._pks[op.session_id], op.client_id)
            for unit in group
            for op in unit.ops
            if isinstance(op, UpdateState) and op.client_id is not None
        ]
        return _stored(conn, state_history, keyed)

    def _applied_status_events(self, conn: Connection, group: list[_Unit]) -> set[tuple[int, str]]:
        """Keyed status-changing events in this group already stored by an earlier one.

        Only these need the look-up: any other repeat is settled by its insert being
        skipped, but a ``hung`` resent after a ``recovered`` would otherwise move the
        status again before the insert could say it was a repeat. They are rare (hung,
        recovered, exception), so a group without them pays one loop and no query."""
        keyed = [
            (self._pks[op.session_id], op.client_id)
            for unit in group
            for op in unit.ops
            if isinstance(op, LogEvent)
            and op.client_id is not None
            and rules.event_changes_status(op.name)
        ]
        return _stored(conn, events, keyed)

    def _create_sessions(
        self, conn: Connection, group: list[_Unit], now: int, created: list[str]
    ) -> None:
        new = [op for unit in group for op in unit.ops if isinstance(op, CreateSession)]
        if not new:
            return
        # An id already taken fails the insert, and with it the group, unless the op asked
        # only for a session to exist: that row is skipped, and ``_resolve`` then finds
        # the other one's pk like any known session's.
        plain = [op for op in new if not op.if_absent]
        absent = [op for op in new if op.if_absent]
        if plain:
            self._insert_sessions(conn, sessions.insert(), plain, now, created)
        if absent:
            skipping = self._insert(sessions).on_conflict_do_nothing(index_elements=["id"])
            self._insert_sessions(conn, skipping, absent, now, created)

    def _insert_sessions(
        self, conn: Connection, insert: Any, new: list[CreateSession], now: int, created: list[str]
    ) -> None:
        result = conn.execute(
            insert.returning(sessions.c.pk, sessions.c.id),
            [
                {
                    "id": op.session_id,
                    "created_us": now,
                    "updated_us": now,
                    "ended_us": None,
                    "last_seen_us": now,
                    "active": True,
                    "status": rules.ACTIVE,
                    "state": {},
                    "product": op.product,
                    "version": op.version,
                    "host": op.host,
                    "metadata": op.metadata,
                    "heartbeat_timeout_s": op.heartbeat_timeout_s,
                }
                for op in new
            ],
        )
        for pk, session_id in result:
            self._pks[session_id] = pk
            created.append(session_id)

    def _resolve(self, conn: Connection, group: list[_Unit]) -> list[_Unit]:
        """Map session ids to pks; a unit naming an unknown session is answered, not applied."""
        # Sessions this group created are cached by now; a create skipped because its id
        # was taken (``if_absent``) is looked up here with the rest.
        unknown = {
            op.session_id for unit in group for op in unit.ops if op.session_id not in self._pks
        }
        if unknown:
            result = conn.execute(
                select(sessions.c.id, sessions.c.pk).where(sessions.c.id.in_(sorted(unknown)))
            )
            self._pks.update(result.all())
        live = []
        for unit in group:
            missing = [
                index
                for index, op in enumerate(unit.ops)
                if not isinstance(op, CreateSession) and op.session_id not in self._pks
            ]
            if not missing:
                live.append(unit)
            elif not unit.future.done():
                unit.result.missing = missing
                unit.future.set_result(unit.result)
        return live

    def _load_rows(self, conn: Connection, group: list[_Unit]) -> dict[int, SessionRow]:
        """Read (and on PostgreSQL lock) the sessions whose row this group must rewrite."""
        pks = self._pks
        needed = sorted({pks[op.session_id] for unit in group for op in unit.ops if needs_row(op)})
        if not needed:
            return {}
        query = select(
            sessions.c.pk,
            sessions.c.status,
            sessions.c.active,
            sessions.c.ended_us,
            sessions.c.state,
            sessions.c.heartbeat_timeout_s,
        ).where(sessions.c.pk.in_(needed))
        if self._dialect == "postgresql":
            query = query.order_by(sessions.c.pk).with_for_update()
        result = conn.execute(query)
        rows = {
            pk: SessionRow(status, active, ended_us, state, timeout)
            for pk, status, active, ended_us, state, timeout in result
        }
        if len(rows) < len(needed):
            raise _StaleSessions
        return rows

    def _insert(self, table: Any) -> Any:
        dialect = postgresql if self._dialect == "postgresql" else sqlite
        return dialect.insert(table)

    def _touch(self, conn: Connection, planned: GroupPlan, now: int) -> None:
        """Record activity once per session per group, however many writes it received."""
        rewritten = [
            {
                "b_pk": pk,
                "b_status": row.status,
                "b_active": row.active,
                "b_ended": row.ended_us,
                "b_state": row.state,
                "b_timeout": row.timeout_s,
                "b_now": now,
            }
            for pk, row in planned.rewrites
        ]
        if rewritten:
            conn.execute(
                update(sessions)
                .where(sessions.c.pk == bindparam("b_pk"))
                .values(
                    status=bindparam("b_status"),
                    active=bindparam("b_active"),
                    ended_us=bindparam("b_ended"),
                    state=bindparam("b_state"),
                    heartbeat_timeout_s=bindparam("b_timeout"),
                    updated_us=bindparam("b_now"),
                    last_seen_us=bindparam("b_now"),
                ),
                rewritten,
            )
        done = {pk for pk, _ in planned.rewrites}
        rest = [{"b_pk": pk, "b_now": now} for pk in sorted(planned.touched - done)]
        if rest:
            touched = conn.execute(
                update(sessions)
                .where(sessions.c.pk == bindparam("b_pk"))
                .values(
                    updated_us=bindparam("b_now"),
                    last_seen_us=bindparam("b_now"),
                    status=case(
                        (sessions.c.status == rules.ABANDONED, rules.ACTIVE),
                        else_=sessions.c.status,
                    ),
                ),
                rest,
            )
            # Rows inserted for a session deleted since its pk was cached would stay behind
            # (no foreign keys on SQLite): the whole group is rolled back and resolved again.
            # (Rewritten sessions were just read in this transaction; asyncpg cannot count
            # rows of an executemany, and PostgreSQL's foreign keys catch it there.)
            if conn.dialect.supports_sane_multi_rowcount and touched.rowcount < len(rest):
                raise _StaleSessions


def _is_contention(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return "locked" in text or "busy" in text or "deadlock" in text


def _names_deleted_session(exc: Exception) -> bool:
    """Ours, or PostgreSQL refusing a row whose session was deleted (foreign key, 23503).
    SQLite does not check foreign keys (``database.SQLITE_PRAGMAS``); ``_touch`` and
    ``_load_rows`` notice the missing session there."""
    if isinstance(exc, _StaleSessions):
        return True
    return getattr(getattr(exc, "orig", None), "sqlstate", None) == "23503"


def _stored(conn: Connection, table: Table, keyed: Sequence[tuple[int, str | None]]) -> set[Any]:
    """Which (session pk, client id) pairs of ``keyed`` ``table`` already holds: one query
    by both INs (the unique (session_pk, client_id) index answers it), none for no pairs."""
    if not keyed:
        return set()
    result = conn.execute(
        select(table.c.session_pk, table.c.client_id).where(
            table.c.session_pk.in_(sorted({pk for pk, _ in keyed})),
            table.c.client_id.in_(sorted({str(client_id) for _, client_id in keyed})),
        )
    )
    return {(pk, client_id) for pk, client_id in result}
