"""On SQLite the WAL is checkpointed beside the writer, not inside its commits."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from datacat.store import checkpoint
from datacat.store.migrate import upgrade
from datacat.store.ops import CreateSession, LogEvent
from datacat.store.repository import Repository


async def test_writes_are_checkpointed_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "INTERVAL_S", 0.0)
    results: list[tuple[int, int, int]] = []
    checkpoint_once = checkpoint.Checkpointer._checkpoint

    def counted(self: checkpoint.Checkpointer) -> None:
        checkpoint_once(self)
        assert self._connection is not None
        # What a checkpoint right after ours finds: (busy, frames in the WAL, copied).
        results.append(self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())

    monkeypatch.setattr(checkpoint.Checkpointer, "_checkpoint", counted)
    path = tmp_path / "wal.db"
    repo = Repository.from_url(f"sqlite+aiosqlite:///{path}")
    await upgrade(repo.engine)
    await repo.start()
    try:
        session_id = repo.new_session_id()
        await repo.create_session(CreateSession(session_id))
        for i in range(20):
            await repo.write_batch([LogEvent(session_id, "e", {"i": i, "pad": "x" * 3000})])
            await asyncio.sleep(0.01)  # let the checkpoint thread keep up
    finally:
        await repo.close()
    assert len(results) >= 5
    assert all(busy == 0 and frames == copied for busy, frames, copied in results)
    with sqlite3.connect(path) as probe:
        assert probe.execute("SELECT count(*) FROM events").fetchone() == (20,)


def test_the_writers_connection_never_checkpoints_itself(tmp_path: Path) -> None:
    from datacat.store.database import create_engine, create_sync_writer

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    sync = create_sync_writer(engine)
    assert sync is not None
    with sync.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    sync.dispose()
