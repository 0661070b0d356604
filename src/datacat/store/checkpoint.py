"""WAL checkpoints beside the writer, not inside its commits.

By default SQLite checkpoints in the commit that pushes the WAL past 1,000 pages: that
commit copies the pages back into the database file and fsyncs it, while holding the
write lock and — since the writer runs on the event loop's thread — the whole process.
It was 14 % of the server's time under batch ingest. The writer's connection turns that
off; a passive checkpoint runs instead, at most once a second after writes, on its own
connection in a thread (SQLite does the copying without the GIL). A passive checkpoint
never blocks the writer or readers: it copies what it can and the next one continues.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

log = logging.getLogger(__name__)

INTERVAL_S = 1.0


class Checkpointer:
    def __init__(self, path: str) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None
        self._running: asyncio.Future[None] | None = None
        self._last = time.monotonic()

    def after_write(self) -> None:
        """Called after each committed group; starts a checkpoint when one is due."""
        now = time.monotonic()
        if now - self._last < INTERVAL_S or (self._running and not self._running.done()):
            return
        self._last = now
        self._running = asyncio.get_running_loop().run_in_executor(None, self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            if self._connection is None:
                self._connection = sqlite3.connect(self._path, check_same_thread=False)
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # the next one will try again
            log.warning("WAL checkpoint failed: %s", exc)

    async def close(self) -> None:
        if self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)
        if self._connection is not None:
            self._connection.close()
            self._connection = None
