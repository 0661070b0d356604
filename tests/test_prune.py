"""Retention: ``datacat prune`` and DATACAT_RETENTION_DAYS on real databases.

Sessions are backdated with SQL (their ``updated_us``, what "last activity" means) so
that old and recent ones sit side by side; the command runs as a real subprocess, and
retention as a real server's sweeper.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from datacat.durations import InvalidDuration, parse_seconds
from datacat.store.migrate import upgrade
from datacat.store.ops import CreateSession, LogEvent, LogMetric, UpdateState
from datacat.store.repository import Repository
from datacat.store.tables import (
    events,
    metric_buckets,
    metric_names,
    metrics,
    sessions,
    state_history,
)
from datacat.timefmt import now_us
from support import BACKENDS, async_throwaway_database, datacat_server, eventually

DAY_US = 86_400 * 1_000_000


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86_400), ("12h", 43_200), ("90m", 5_400), ("45s", 45), (" 7d ", 604_800)],
)
def test_durations_people_type(text: str, seconds: int) -> None:
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize(
    "text", ["30", "d", "1.5d", "-1d", "1d12h", "1w", "30D", "0s", "", "9" * 30]
)
def test_anything_else_is_refused_with_what_is_accepted(text: str) -> None:
    with pytest.raises(InvalidDuration, match=re.escape(repr(text))):
        parse_seconds(text)


def datacat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "datacat.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("bad", ["30", "1.5d", "-1d"])
def test_a_bad_duration_exits_2_naming_it(bad: str, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'untouched.db'}"
    result = datacat("prune", f"--older-than={bad}", "--database-url", url)
    assert result.returncode == 2
    assert f"invalid duration {bad!r}" in result.stderr and "30d" in result.stderr
    assert not (tmp_path / "untouched.db").exists()


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'prune.db'}"
        return
    async with async_throwaway_database("datacat_prune") as url:
        yield url


async def open_repo(url: str) -> Repository:
    repo = Repository.from_url(url, pool_size=2)
    await upgrade(repo.engine)
    await repo.start()
    return repo


async def make_session(repo: Repository, label: str, n_events: int, age_days: float) -> str:
    """A session with events, metrics and state history, its last activity backdated."""
    session_id = await repo.create_session(CreateSession(repo.new_session_id(), product=label))
    await repo.write_batch(
        [UpdateState(session_id, {"label": label})]
        + [LogEvent(session_id, "e", {"i": i}) for i in range(n_events)]
        + [LogMetric(session_id, f"{label}-metric", float(i)) for i in range(3)]
        + [
            LogMetric(
                session_id,
                "frame_ms",
                2.0,
                kind="histogram",
                observations=4,
                buckets=((1.0, 1), (4.0, 2), (None, 1)),
            )
        ]
    )
    async with repo.engine.begin() as conn:
        moved = now_us() - int(age_days * DAY_US)
        await conn.execute(
            update(sessions)
            .where(sessions.c.id == session_id)
            .values(updated_us=moved, last_seen_us=moved)
        )
    return session_id


async def counts(repo: Repository) -> dict[str, int]:
    async with repo.engine.connect() as conn:
        return {
            table.name: int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            for table in (sessions, events, metrics, metric_buckets, state_history, metric_names)
        }


async def stored_ids(repo: Repository) -> set[str]:
    async with repo.engine.connect() as conn:
        return set((await conn.execute(select(sessions.c.id))).scalars())


def numbers(line: str) -> list[int]:
    return [int(n) for n in re.findall(r"(\d+) (?:sessions|events|metrics|state updates)", line)]


async def test_prune_deletes_old_sessions_and_keeps_recent_ones(database: str) -> None:
    repo = await open_repo(database)
    try:
        # More events than one transaction deletes, so the batching is exercised.
        old = [await make_session(repo, "old", n, age) for n, age in ((2_500, 40), (3, 31))]
        recent = [await make_session(repo, "recent", n, age) for n, age in ((4, 29), (5, 0))]
        before = await counts(repo)
    finally:
        await repo.close()

    dry = datacat("prune", "--older-than", "30d", "--dry-run", "--database-url", database)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would delete")
    assert numbers(dry.stdout) == [2, 2_503, 8, 2]

    repo = await open_repo(database)
    try:
        assert await counts(repo) == before  # the dry run deleted nothing
    finally:
        await repo.close()

    done = datacat("prune", "--older-than", "30d", "--database-url", database)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("deleted") and numbers(done.stdout) == [2, 2_503, 8, 2]

    repo = await open_repo(database)
    try:
        assert await stored_ids(repo) == set(recent)
        after = await counts(repo)
        assert after == {
            "sessions": 2,
            "events": 9,
            "metrics": 8,
            "metric_buckets": 6,
            "state_history": 2,
            "metric_names": before["metric_names"],  # names ever logged are kept
        }
        kept = await repo.list_events(recent[0])
        assert len(kept.items) == 4
        assert not set(old) & await stored_ids(repo)
    finally:
        await repo.close()

    again = datacat("prune", "--older-than", "30d", "--database-url", database)
    assert again.returncode == 0 and numbers(again.stdout) == [0, 0, 0, 0]


@pytest.fixture(params=BACKENDS)
def server_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'retention.db'}"
        return
    from support import throwaway_database

    with throwaway_database("datacat_retention") as url:
        yield url


async def backdate(url: str, session_ids: list[str], age_days: float) -> None:
    repo = Repository.from_url(url, pool_size=1)
    try:
        async with repo.engine.begin() as conn:
            moved = now_us() - int(age_days * DAY_US)
            await conn.execute(
                update(sessions)
                .where(sessions.c.id.in_(session_ids))
                .values(updated_us=moved, last_seen_us=moved)
            )
    finally:
        await repo.engine.dispose()


def test_the_sweeper_applies_retention_days(server_database: str, tmp_path: Path) -> None:
    env = {"DATACAT_RETENTION_DAYS": "7", "DATACAT_SWEEP_INTERVAL_S": "0.2"}
    log = tmp_path / "server.log"
    with datacat_server(server_database, env=env, log_path=log) as server:
        with httpx.Client(base_url=server.url) as http:

            def new_session() -> str:
                session_id: str = http.post("/api/sessions").json()["session_id"]
                for i in range(3):
                    http.post(f"/api/sessions/{session_id}/events", json={"name": f"e{i}"})
                return session_id

            old = [new_session() for _ in range(3)]
            recent = [new_session() for _ in range(2)]
            asyncio.run(backdate(server_database, old, 8))
            asyncio.run(backdate(server_database, recent[:1], 6))

            def statuses() -> dict[str, Any]:
                return {s: http.get(f"/api/sessions/{s}").status_code for s in old + recent}

            eventually(statuses, {**dict.fromkeys(old, 404), **dict.fromkeys(recent, 200)})
            # The pass that deleted the old sessions saw the recent ones too.
            eventually(lambda: "retention (7 days) deleted" in log.read_text())
            after = [http.get(f"/api/sessions/{s}").json() for s in recent]
            assert [len(s["events"]) for s in after] == [3, 3]
    assert "{'sessions': 3, 'events': 9" in log.read_text()


def test_the_prune_benchmark_runs(tmp_path: Path) -> None:
    """``bench/prune.py`` at toy size, so it does not rot between full runs (README figures):
    ingest answered throughout, every old event deleted, every new one kept."""
    root = Path(__file__).resolve().parents[1]
    toy = ["--events", "3000", "--sessions", "6", "--settle-s", "0.5", "--baseline-s", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "bench.prune", *toy, "--output", str(tmp_path / "out.jsonl")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "out.jsonl").read_text())
    assert result["old_sessions_left"] == 0
    assert result["events_left"] == result["expected_events_left"] > 0
    assert [phase["errors"] for phase in result["phases"]] == [0, 0]
    assert result["prune_output"].startswith("deleted 6 sessions, 3000 events")
