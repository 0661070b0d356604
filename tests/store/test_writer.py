"""The group-commit writer's own rules."""

from __future__ import annotations

import asyncio

from datacat.store.ops import CreateSession, LogEvent, UpdateState
from datacat.store.repository import Repository, SessionNotFound


async def test_session_cache_starts_over_past_its_limit(
    fresh_repo: Repository, monkeypatch
) -> None:
    from datacat.store import writer

    monkeypatch.setattr(writer, "PK_CACHE_LIMIT", 3)
    cache = fresh_repo._writer._pks
    ids = [fresh_repo.new_session_id() for _ in range(6)]
    sizes = []
    for session_id in ids:
        await fresh_repo.create_session(CreateSession(session_id))
        assert session_id in cache  # the group that created it knows its pk
        sizes.append(len(cache))
    # Every session is still found (from the database) once the cache has been emptied.
    for session_id in ids:
        await fresh_repo.write(LogEvent(session_id, "after-reset"))
        assert session_id in cache
        sizes.append(len(cache))
    # One write per group: a group starts over when the cache is past the limit and then
    # adds its own session, so the cache never holds more than the limit plus one, and it
    # does start over (a cache that kept all six would have grown 1, 2, ... 6).
    assert max(sizes) == 3 + 1, sizes
    assert sizes[:6] == [1, 2, 3, 4, 1, 2], sizes
    for session_id in ids:
        assert len((await fresh_repo.list_events(session_id)).items) == 1


async def test_an_unknown_session_in_a_group_fails_only_its_own_write(
    fresh_repo: Repository,
) -> None:
    known = fresh_repo.new_session_id()
    await fresh_repo.create_session(CreateSession(known))
    results = await asyncio.gather(
        *(fresh_repo.write(LogEvent(known, f"e{i}")) for i in range(20)),
        fresh_repo.write(LogEvent("no-such-session", "lost")),
        *(fresh_repo.write(UpdateState(known, {f"k{i}": i})) for i in range(20)),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1 and isinstance(failures[0], SessionNotFound)
    events = (await fresh_repo.list_events(known)).items
    state = (await fresh_repo.get_session(known))["state"]
    assert len(events) == 20 and len(state) == 20


def test_timestamps_in_any_offset_land_on_the_same_microsecond() -> None:
    from datetime import datetime, timedelta, timezone

    from datacat.timefmt import to_rfc3339, to_us

    utc = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    plus_one = datetime(2026, 1, 1, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    naive = datetime(2026, 1, 1, 12, 0, 0, 123456)
    assert to_us(utc) == to_us(plus_one) == to_us(naive) == 1_767_268_800_123_456
    assert to_rfc3339(to_us(plus_one)) == "2026-01-01T12:00:00.123456Z"
