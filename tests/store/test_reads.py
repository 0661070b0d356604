"""Repository reads that the API does not expose directly."""

from __future__ import annotations

from datacat.store.ops import CreateSession, LogEvent
from datacat.store.repository import Repository


async def test_events_newest_first_page_backwards(fresh_repo: Repository) -> None:
    session_id = fresh_repo.new_session_id()
    await fresh_repo.create_session(CreateSession(session_id))
    await fresh_repo.write_batch([LogEvent(session_id, f"e{i}") for i in range(7)])
    first = await fresh_repo.list_events(session_id, limit=3, newest_first=True)
    assert [e["name"] for e in first.items] == ["e6", "e5", "e4"]
    second = await fresh_repo.list_events(
        session_id, cursor=first.next_cursor, limit=3, newest_first=True
    )
    assert [e["name"] for e in second.items] == ["e3", "e2", "e1"]
    oldest = await fresh_repo.list_events(session_id, limit=3)
    assert [e["name"] for e in oldest.items] == ["e0", "e1", "e2"]
