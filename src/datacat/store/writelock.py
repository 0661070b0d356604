"""One writer at a time across processes, handed over without sleeping.

SQLite has one write lock per file. When several server processes (``--workers N``) each
run ``BEGIN IMMEDIATE``, the losers wait in SQLite's busy handler, which sleeps in
millisecond steps and retries: under load most of the time went to sleeping, and two
workers were slower than one. A blocking ``flock`` on a file beside the database queues
the processes in the kernel instead, which wakes the next one the moment the lock is
released; only the holder ever begins a write transaction, so SQLite's own lock is always
free when asked for. Each process still commits whole groups, so waiting makes the next
group larger rather than adding transactions.

Inside one process an ``asyncio.Lock`` comes first: ``flock`` locks belong to the open
file, so two tasks of one process (the group writer and the sweeper) would otherwise both
"hold" it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.engine import make_url

SPIN_S = 0.002
"""How long to poll a contended lock before waiting for it in a thread."""


class WriteLock:
    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._local = asyncio.Lock()
        self._fd: int | None = None

    @classmethod
    def for_url(cls, url: str) -> WriteLock:
        """A file lock for an on-disk SQLite database; a process-local lock otherwise
        (PostgreSQL takes row locks itself, and an in-memory database has one process)."""
        parsed = make_url(url)
        database = parsed.database or ""
        if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
            return cls(None)
        if database.startswith("file:"):  # a URI filename: the path ends before the query
            database = database[5:].split("?", 1)[0]
        return cls(Path(f"{database}-lock").expanduser())

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        async with self._local:
            if self._path is None:
                yield
                return
            fd = self._open()
            await _acquire(fd)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _open(self) -> int:
        if self._fd is None:
            assert self._path is not None
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


async def _acquire(fd: int) -> None:
    """Take the lock, polling it once per turn of the event loop for a moment before
    waiting for it in a thread.

    Another process holds the lock for one group commit, well under a millisecond, so
    the poll usually wins within a few turns — while requests keep arriving and join the
    next group. A thread would take the lock at once but could only hand it to this
    loop after everything already queued on the loop had run, and the lock would sit
    idle, held, all that time.
    """
    loop = asyncio.get_running_loop()
    give_up = loop.time() + SPIN_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if loop.time() > give_up:
            break
        await asyncio.sleep(0)
    waiting = loop.run_in_executor(None, fcntl.flock, fd, fcntl.LOCK_EX)
    try:
        await asyncio.shield(waiting)
    except asyncio.CancelledError:
        # The thread cannot be interrupted: let it finish, then give the lock back.
        with contextlib.suppress(Exception):
            await waiting
            fcntl.flock(fd, fcntl.LOCK_UN)
        raise
