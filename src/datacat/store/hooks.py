"""The SQL behind webhooks: hooks, turning trouble into outbox rows, claiming deliveries.

Every step is its own short write transaction under the process's write lock (on SQLite,
``BEGIN IMMEDIATE`` behind the lock file) and, on PostgreSQL, takes the rows it works on
with ``FOR UPDATE SKIP LOCKED``: several workers and replicas run the delivery loop at
once, and each journal entry, exception and delivery is handled by exactly one of them.
Each step first asks a cheap read whether there is anything to do, so an idle loop never
takes the write lock.

A claimed delivery is leased, not locked, while it is sent: its ``next_attempt_us`` moves
past the send timeout, so if the process dies mid-send another one retries it later. That
makes delivery at-least-once in that one case (a crash after the receiver answered and
before the answer was recorded); ``X-Datacat-Delivery`` lets a receiver drop the repeat.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from datacat import webhookrules as rules
from datacat.store.database import WRITE_OPTION
from datacat.store.hooktables import (
    session_transitions,
    webhook_cursors,
    webhook_outbox,
    webhooks,
)
from datacat.store.tables import events, sessions
from datacat.store.writelock import WriteLock
from datacat.timefmt import now_us

SCANNED = "exceptions_scanned"
"""Cursor: every exception event with an id up to this was looked at."""
HORIZON = "exceptions_horizon"
"""Cursor: the newest event id one pass ago. A pass scans only up to it: on PostgreSQL
ids are taken before commit, so a newer id can become visible before an older one, but
by the next pass (a poll interval later) every transaction that took an id below the
horizon has long committed or rolled back."""
FAN_OUT_ROWS = 500
_PENDING = and_(webhook_outbox.c.delivered_us.is_(None), webhook_outbox.c.failed_us.is_(None))


@dataclass(frozen=True, slots=True)
class Hook:
    id: int
    url: str
    kinds: tuple[str, ...]
    product: str | None
    secret: str
    created_us: int


@dataclass(frozen=True, slots=True)
class HookSummary:
    """A hook with how its deliveries went, for ``datacat hooks list``."""

    hook: Hook
    delivered: int
    pending: int
    failed: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed outbox row: ``attempts`` counts this attempt."""

    id: int
    hook_id: int
    url: str
    secret: str
    body: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt went: ``error`` None means the receiver took it (2xx)."""

    delivery: Delivery
    status: int | None
    error: str | None


def _hook(row: Any) -> Hook:
    return Hook(
        row.id, row.url, tuple(row.kinds.split(",")), row.product, row.secret, row.created_us
    )


class HookStore:
    def __init__(self, engine: AsyncEngine, lock: WriteLock) -> None:
        self.engine = engine
        self._lock = lock
        self._postgres = engine.dialect.name == "postgresql"

    # -- hooks (``datacat hooks``) -----------------------------------------------------

    async def add(self, url: str, kinds: Sequence[str], product: str | None) -> Hook:
        """Register a hook with a fresh secret. The first hook on new exceptions starts
        the scan at the newest event: it is told of groups new from now on."""
        checked = rules.check_url(url)
        wanted = rules.parse_kinds(",".join(kinds))
        secret = rules.new_secret()
        created = now_us()
        row = {
            "url": checked,
            "kinds": ",".join(wanted),
            "product": product,
            "secret": secret,
            "created_us": created,
        }
        async with self._writing() as conn:
            if rules.NEW_EXCEPTION in wanted and not await self._scanning(conn):
                newest = await conn.scalar(select(func.coalesce(func.max(events.c.id), 0)))
                await self._start_scan(conn, int(newest or 0))
            hook_id = await conn.scalar(insert(webhooks).values(row).returning(webhooks.c.id))
        assert hook_id is not None
        return Hook(hook_id, checked, wanted, product, secret, created)

    async def hooks(self) -> list[Hook]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(webhooks).order_by(webhooks.c.id))
            return [_hook(row) for row in rows]

    async def get(self, hook_id: int) -> Hook | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(webhooks).where(webhooks.c.id == hook_id))).first()
        return None if row is None else _hook(row)

    async def remove(self, hook_id: int) -> bool:
        """Delete a hook and its deliveries, sent or not; False if there is no such hook."""
        async with self._writing() as conn:
            await conn.execute(delete(webhook_outbox).where(webhook_outbox.c.hook_id == hook_id))
            removed = await conn.execute(delete(webhooks).where(webhooks.c.id == hook_id))
        return bool(removed.rowcount)

    async def summaries(self) -> list[HookSummary]:
        outbox = webhook_outbox.c
        counts = select(
            outbox.hook_id,
            func.count(outbox.delivered_us),
            func.count(outbox.failed_us),
            func.count(),
        ).group_by(outbox.hook_id)
        async with self.engine.connect() as conn:
            tally = {row[0]: row[1:] for row in await conn.execute(counts)}
            found = []
            for hook in await self.hooks():
                delivered, failed, total = tally.get(hook.id, (0, 0, 0))
                last_error = await conn.scalar(
                    select(outbox.last_error)
                    .where(outbox.hook_id == hook.id, outbox.last_error.is_not(None))
                    .order_by(outbox.id.desc())
                    .limit(1)
                )
                found.append(
                    HookSummary(hook, delivered, total - delivered - failed, failed, last_error)
                )
        return found

    # -- the delivery loop -------------------------------------------------------------

    async def fan_out(self, hooks: Sequence[Hook], public_url: str | None) -> int:
        """Turn journalled transitions into outbox rows for the hooks that want them, and
        drop the entries; returns the outbox rows made (repeats of one hook, session and
        status are not made again)."""
        journal = session_transitions.c
        async with self.engine.connect() as conn:
            if await conn.scalar(select(journal.id).limit(1)) is None:
                return 0
        query = (
            select(
                journal.id,
                journal.status,
                journal.at_us,
                sessions.c.id.label("session_id"),
                sessions.c.product,
                sessions.c.version,
                sessions.c.host,
            )
            .select_from(
                session_transitions.outerjoin(sessions, sessions.c.pk == journal.session_pk)
            )
            .order_by(journal.id)
            .limit(FAN_OUT_ROWS)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True, of=session_transitions)
        now = now_us()
        async with self._writing() as conn:
            entries = (await conn.execute(query)).all()
            rows = []
            for entry in entries:
                if entry.session_id is None:  # deleted since (retention): nothing to show
                    continue
                session = {
                    "id": entry.session_id,
                    "product": entry.product,
                    "version": entry.version,
                    "host": entry.host,
                }
                body = None
                for hook in hooks:
                    if not rules.wants(hook.kinds, hook.product, entry.status, entry.product):
                        continue
                    if body is None:
                        payload = rules.session_payload(
                            entry.status, session, entry.at_us, public_url
                        )
                        body = rules.encode(payload).decode()
                    key = rules.dedupe_key(entry.status, entry.session_id)
                    rows.append(_outbox_row(hook.id, entry.status, key, body, now))
            await self._queue(conn, rows)
            if entries:
                await conn.execute(
                    delete(session_transitions).where(
                        journal.id.in_([entry.id for entry in entries])
                    )
                )
        return len(rows)

    async def scan_exceptions(self, hooks: Sequence[Hook], public_url: str | None) -> int:
        """Queue a delivery for each exception fingerprint first seen since the last pass,
        for the hooks on ``new_exception``; returns the outbox rows made."""
        wanting = [hook for hook in hooks if rules.NEW_EXCEPTION in hook.kinds]
        if not wanting:
            return 0
        async with self._writing() as conn:
            cursor_query = select(webhook_cursors.c.name, webhook_cursors.c.value).where(
                webhook_cursors.c.name.in_((SCANNED, HORIZON))
            )
            if self._postgres:
                cursor_query = cursor_query.with_for_update()
            cursors = dict((await conn.execute(cursor_query)).tuples().all())
            newest = int(await conn.scalar(select(func.coalesce(func.max(events.c.id), 0))) or 0)
            if len(cursors) < 2:  # the hook was made by an older datacat: start from now
                await self._start_scan(conn, newest)
                return 0
            scanned, horizon = cursors[SCANNED], cursors[HORIZON]
            firsts = (await conn.execute(_first_exceptions(scanned, horizon))).all()
            full = len(firsts) == FAN_OUT_ROWS
            now = now_us()
            rows: list[dict[str, Any]] = []
            for event in firsts:
                session = {
                    "id": event.session_id,
                    "product": event.product,
                    "version": event.version,
                    "host": event.host,
                    "status": event.status,
                }
                payload = rules.exception_payload(
                    event.fingerprint,
                    session,
                    event.data,
                    event.message,
                    event.ts_us,
                    public_url,
                )
                body = rules.encode(payload).decode()
                key = rules.dedupe_key(rules.NEW_EXCEPTION, event.fingerprint)
                rows.extend(
                    _outbox_row(hook.id, rules.NEW_EXCEPTION, key, body, now)
                    for hook in wanting
                    if rules.wants(hook.kinds, hook.product, rules.NEW_EXCEPTION, event.product)
                )
            await self._queue(conn, rows)
            # A full page: go on from its last event next pass, with the same horizon.
            moved = (
                {SCANNED: firsts[-1].id, HORIZON: horizon}
                if full
                else {SCANNED: horizon, HORIZON: newest}
            )
            for name, value in moved.items():
                await conn.execute(
                    update(webhook_cursors)
                    .where(webhook_cursors.c.name == name)
                    .values(value=value)
                )
        return len(rows)

    async def claim(self, lease_us: int, limit: int) -> list[Delivery]:
        """Take up to ``limit`` due deliveries for this process, count the attempt and
        lease them for ``lease_us`` (so a crash mid-send leaves them to be retried)."""
        now = now_us()
        outbox = webhook_outbox.c
        due = and_(_PENDING, outbox.next_attempt_us <= now)
        async with self.engine.connect() as conn:
            if await conn.scalar(select(outbox.id).where(due).limit(1)) is None:
                return []
        query = (
            select(
                outbox.id,
                outbox.hook_id,
                webhooks.c.url,
                webhooks.c.secret,
                outbox.body,
                outbox.attempts,
            )
            .select_from(webhook_outbox.join(webhooks, webhooks.c.id == outbox.hook_id))
            .where(due)
            .order_by(outbox.next_attempt_us, outbox.id)
            .limit(limit)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True, of=webhook_outbox)
        async with self._writing() as conn:
            rows = (await conn.execute(query)).all()
            if rows:
                await conn.execute(
                    update(webhook_outbox)
                    .where(outbox.id.in_([row.id for row in rows]))
                    .values(attempts=outbox.attempts + 1, next_attempt_us=now + lease_us)
                )
        return [
            Delivery(row.id, row.hook_id, row.url, row.secret, row.body.encode(), row.attempts + 1)
            for row in rows
        ]

    async def settle(self, outcomes: Sequence[Outcome], retry: rules.Retry) -> None:
        """Record how attempts went: delivered, due again later, or given up."""
        if not outcomes:
            return
        now = now_us()
        async with self._writing() as conn:
            for outcome in outcomes:
                values: dict[str, Any] = {"last_status": outcome.status}
                if outcome.error is None:
                    values |= {"delivered_us": now, "last_error": None}
                else:
                    again = retry.next_attempt_us(outcome.delivery.attempts, now)
                    values["last_error"] = outcome.error
                    if again is None:
                        values["failed_us"] = now
                    else:
                        values["next_attempt_us"] = again
                await conn.execute(
                    update(webhook_outbox)
                    .where(webhook_outbox.c.id == outcome.delivery.id)
                    .values(values)
                )

    async def forget(self, before_us: int) -> int:
        """Delete deliveries settled (delivered or given up) before ``before_us``; pending
        ones stay. The service's retention applies it, so the outbox does not outgrow the
        sessions it speaks of. A status that recurs after its row is gone (a session hung
        again months later) is delivered again; a new exception group never is (the scan
        sees its earlier events)."""
        outbox = webhook_outbox.c
        settled = or_(outbox.delivered_us < before_us, outbox.failed_us < before_us)
        async with self.engine.connect() as conn:
            if await conn.scalar(select(outbox.id).where(settled).limit(1)) is None:
                return 0
        async with self._writing() as conn:
            result = await conn.execute(delete(webhook_outbox).where(settled))
        return int(result.rowcount or 0)

    # -- helpers -----------------------------------------------------------------------

    async def _scanning(self, conn: AsyncConnection) -> bool:
        """Whether some hook already watches for new exceptions (the scan is running)."""
        kinds = await conn.execute(select(webhooks.c.kinds))
        return any(rules.NEW_EXCEPTION in row.kinds.split(",") for row in kinds)

    @staticmethod
    async def _start_scan(conn: AsyncConnection, newest: int) -> None:
        """Scan for new exception groups from the newest event on."""
        await conn.execute(
            delete(webhook_cursors).where(webhook_cursors.c.name.in_((SCANNED, HORIZON)))
        )
        await conn.execute(
            insert(webhook_cursors),
            [{"name": SCANNED, "value": newest}, {"name": HORIZON, "value": newest}],
        )

    async def _queue(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        dialect = postgresql if self._postgres else sqlite
        await conn.execute(dialect.insert(webhook_outbox).on_conflict_do_nothing(), rows)

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction under the process's write lock (see ``writelock``)."""
        async with self._lock.hold(), self.engine.connect() as conn:
            conn = await conn.execution_options(**{WRITE_OPTION: True})
            async with conn.begin():
                yield conn


def _outbox_row(hook_id: int, kind: str, key: str, body: str, now: int) -> dict[str, Any]:
    return {
        "hook_id": hook_id,
        "kind": kind,
        "dedupe_key": key,
        "body": body,
        "created_us": now,
        "attempts": 0,
        "next_attempt_us": now,
    }


def _first_exceptions(scanned: int, horizon: int) -> Any:
    """Exception events with ids in (scanned, horizon] whose fingerprint no earlier event
    has, with their session. The id range is read by primary key (the fingerprint test
    is written so the partial fingerprint index is not chosen for the range: it would
    read every exception ever stored); the "no earlier one" test is an index probe."""
    earlier = events.alias("earlier")
    return (
        select(
            events.c.id,
            events.c.fingerprint,
            events.c.ts_us,
            events.c.data,
            events.c.message,
            sessions.c.id.label("session_id"),
            sessions.c.product,
            sessions.c.version,
            sessions.c.host,
            sessions.c.status,
        )
        .select_from(events.join(sessions, sessions.c.pk == events.c.session_pk))
        .where(
            events.c.id > scanned,
            events.c.id <= horizon,
            func.coalesce(events.c.fingerprint, "") != "",
            ~exists().where(
                earlier.c.fingerprint == events.c.fingerprint, earlier.c.id < events.c.id
            ),
        )
        .order_by(events.c.id)
        .limit(FAN_OUT_ROWS)
    )
