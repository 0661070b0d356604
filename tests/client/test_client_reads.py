"""Reads through a client see that client's own queued writes, on both faces; a batched
``end()`` answers as the seed's did."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from test_client_seed_readme import ADVANCED

from datacat_client import AsyncDatacatClient, AsyncSession, BatchConfig, DatacatClient, Session

# Long enough that nothing would be delivered before the read unless the read flushes.
SLOW = BatchConfig(flush_interval=30.0)


def _names(session: dict[str, Any]) -> list[str]:
    return [event["name"] for event in session["events"]]


def test_the_seeds_advanced_example_sees_what_it_logged(url: str) -> None:
    code = ADVANCED.replace("http://localhost:8080", url) + (
        "\nmine = [s for s in all_sessions if s['id'] == session_id][0]"
        "\nprint(mine['state'], [e['name'] for e in mine['events']],"
        " [m['name'] for m in mine['metrics']])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "{'phase': 'initialization'} ['initialization_complete'] ['init_time']"
    )


def test_sync_reads_flush_first_and_end_answers_ok(url: str) -> None:
    with DatacatClient(url, batch=SLOW) as client:
        session = Session(client, client.register_session())
        session.log_event("queued", {"n": 1})
        session.log_metric("m", 1.5)
        assert _names(client.get_session(session.session_id)) == ["queued"]
        session.log_event("later")
        everything = {s["id"]: s for s in client.get_all_sessions()}
        assert _names(everything[session.session_id]) == ["queued", "later"]
        assert session.end() == {"status": "ok"}
        assert client.get_session(session.session_id)["active"] is False


@pytest.mark.parametrize("batching", [True, False])
async def test_async_reads_flush_first_and_end_answers_ok(url: str, batching: bool) -> None:
    async with AsyncDatacatClient(url, batch=SLOW) as client:
        session = AsyncSession(client, await client.register_session(), batching=batching)
        await session.log_event("queued", {"n": 1})
        assert _names(await client.get_session(session.session_id)) == ["queued"]
        await session.log_event("later")
        everything = {s["id"]: s for s in await client.get_all_sessions()}
        assert _names(everything[session.session_id]) == ["queued", "later"]
        assert await session.end() == {"status": "ok"}
        assert (await client.get_session(session.session_id))["active"] is False
