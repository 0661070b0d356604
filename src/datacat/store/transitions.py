"""The journal of trouble: sessions that just became crashed, hung or abandoned.

The group writer and the sweeper call ``record`` inside the transaction that changes the
status, so the entry exists exactly when the change does (a rollback takes both away, a
crash after commit keeps both). Only changes *into* a trouble status are journalled —
ended and active are not trouble — and they are rare, so the usual group pays one loop
over the sessions whose row it rewrote and no statement at all. Which hooks want an entry
is decided later, by the delivery loop (``store.hooks``): the writer never reads hooks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from datacat.store.hooktables import session_transitions
from datacat.store.plan import SessionRow

TROUBLE = frozenset({"crashed", "hung", "abandoned"})


def trouble(
    before: Mapping[int, SessionRow], after: Iterable[tuple[int, SessionRow]]
) -> list[tuple[int, str]]:
    """(session pk, new status) for each session whose status became a trouble one."""
    return [
        (pk, row.status)
        for pk, row in after
        if row.status in TROUBLE and before[pk].status != row.status
    ]


def record(conn: Connection, changes: list[tuple[int, str]], now_us: int) -> None:
    """Journal ``changes`` on the caller's (sync) connection, in its transaction."""
    if changes:
        conn.execute(insert(session_transitions), rows(changes, now_us))


def rows(changes: Iterable[tuple[int, str]], now_us: int) -> list[dict[str, object]]:
    """The journal rows for ``changes``, for callers on an async connection."""
    return [{"session_pk": pk, "status": status, "at_us": now_us} for pk, status in changes]
