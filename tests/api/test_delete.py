"""DELETE /api/sessions/{id}: the session and everything under it go, nothing else does.

Also what a deletion means for writers: every write after it is a 404, whether it goes
through the app that deleted or through another writer that still has the session's pk
cached (another process, here a second Repository on the same database), and a write
racing the deletion is answered 200 or 404, never an error, with nothing left behind.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from datacat.store import prune
from datacat.store.ops import EndSession, Heartbeat, LogEvent, LogMetric, Op, UpdateState
from datacat.store.repository import Repository, SessionNotFound
from datacat.store.tables import events, metrics, sessions, state_history

CHILDREN = {"events": events, "metrics": metrics, "state_history": state_history}


@pytest.fixture
async def other_writer(database_url: str) -> AsyncIterator[Repository]:
    """A second writer on the same database, with a pk cache of its own (as another
    server process has)."""
    other = Repository.from_url(database_url, pool_size=2)
    await other.start()
    yield other
    await other.close()


async def seed(client: httpx.AsyncClient, product: str, n_events: int = 3) -> str:
    created = await client.post("/api/sessions", json={"product": product})
    session_id: str = created.json()["session_id"]
    url = f"/api/sessions/{session_id}"
    assert (await client.post(f"{url}/state", json={"a": {"b": 1}})).status_code == 200
    assert (await client.post(f"{url}/state", json={"a": {"c": 2}})).status_code == 200
    for i in range(n_events):
        await client.post(f"{url}/events", json={"name": "step", "data": {"i": i}})
    for value in (1.0, 2.0):
        await client.post(f"{url}/metrics", json={"name": f"{product}-m", "value": value})
    await client.post(f"{url}/heartbeat", json={"timeout": 60})
    return session_id


async def rows_under(repo: Repository, pk: int) -> dict[str, int]:
    async with repo.engine.connect() as conn:
        found = {
            name: int(
                await conn.scalar(
                    select(func.count()).select_from(table).where(table.c.session_pk == pk)
                )
                or 0
            )
            for name, table in CHILDREN.items()
        }
        found["sessions"] = int(
            await conn.scalar(select(func.count()).select_from(sessions).where(sessions.c.pk == pk))
            or 0
        )
    return found


NOTHING = {"events": 0, "metrics": 0, "state_history": 0, "sessions": 0}


async def test_delete_removes_the_session_and_everything_under_it_and_nothing_else(
    client: httpx.AsyncClient, repo: Repository
) -> None:
    product = f"delete-{uuid.uuid4().hex[:8]}"
    doomed, kept = await seed(client, product), await seed(client, product)
    doomed_pk = (await repo.get_session(doomed))["pk"]
    assert await rows_under(repo, doomed_pk) == {
        "events": 3,
        "metrics": 2,
        "state_history": 2,
        "sessions": 1,
    }
    kept_before = (await client.get(f"/api/sessions/{kept}")).json()
    kept_history = (await client.get(f"/api/sessions/{kept}/state/history")).json()

    response = await client.delete(f"/api/sessions/{doomed}")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert await rows_under(repo, doomed_pk) == NOTHING
    for read in ("", "/events", "/metrics", "/state/history"):
        gone = await client.get(f"/api/sessions/{doomed}{read}")
        assert gone.status_code == 404 and doomed in gone.json()["detail"]
    assert (await client.get(f"/api/sessions/{kept}")).json() == kept_before
    assert (await client.get(f"/api/sessions/{kept}/state/history")).json() == kept_history
    listed = (await client.get(f"/api/sessions?product={product}")).json()["items"]
    assert [s["id"] for s in listed] == [kept]
    exported = (await client.get(f"/api/grafana/sessions?product={product}")).json()
    assert [s["id"] for s in exported] == [kept]
    series = (
        await client.get(f"/api/metrics/series?name={product}-m&product={product}&aggregation=all")
    ).json()
    assert series["points_matched"] == 2  # the kept session's two points only
    # The explorer's list of names ever logged keeps the name.
    assert f"{product}-m" in (await client.get("/api/metrics/names")).json()["names"]


async def test_unknown_or_already_deleted_session_is_404(client: httpx.AsyncClient) -> None:
    unknown = await client.delete("/api/sessions/no-such-session")
    assert unknown.status_code == 404 and "no-such-session" in unknown.json()["detail"]
    session_id = (await client.post("/api/sessions")).json()["session_id"]
    assert (await client.delete(f"/api/sessions/{session_id}")).status_code == 200
    again = await client.delete(f"/api/sessions/{session_id}")
    assert again.status_code == 404


async def test_writes_to_a_deleted_session_are_404_and_store_nothing(
    client: httpx.AsyncClient, repo: Repository
) -> None:
    session_id = await seed(client, "delete-writes", n_events=1)
    pk = (await repo.get_session(session_id))["pk"]
    assert (await client.delete(f"/api/sessions/{session_id}")).status_code == 200
    url = f"/api/sessions/{session_id}"
    for path, body in (
        ("/state", {"late": True}),
        ("/events", {"name": "late"}),
        ("/metrics", {"name": "late", "value": 1}),
        ("/heartbeat", {"timeout": 5}),
        ("/end", None),
    ):
        answer = await client.post(f"{url}{path}", json=body)
        assert answer.status_code == 404, (path, answer.text)
    batch = await client.post(
        "/api/batch", json={"items": [{"op": "event", "session_id": session_id, "name": "late"}]}
    )
    assert batch.status_code == 422 and batch.json()["detail"][0]["index"] == 0
    assert await rows_under(repo, pk) == NOTHING


def every_kind_of_write(session_id: str) -> list[Op]:
    return [
        LogEvent(session_id, "late"),
        LogMetric(session_id, "late", 1.0),
        UpdateState(session_id, {"late": 1}),
        Heartbeat(session_id, 5.0),
        EndSession(session_id),
        LogEvent(session_id, "late", client_id="c1"),
        LogMetric(session_id, "late", 1.0, client_id="c2"),
    ]


async def test_a_writer_with_the_pk_cached_gets_404_and_leaves_no_rows(
    client: httpx.AsyncClient, repo: Repository, other_writer: Repository
) -> None:
    """Another process's writer still maps the deleted id to its pk: SQLite (no foreign
    keys) would store rows under it, PostgreSQL would refuse them with a foreign-key
    error; both must answer "unknown session" instead."""
    session_id = (await client.post("/api/sessions")).json()["session_id"]
    live = (await client.post("/api/sessions")).json()["session_id"]
    pk = (await repo.get_session(session_id))["pk"]
    for op in every_kind_of_write(session_id):  # the other writer now has the pk cached
        await other_writer.write(op)
    assert (await client.delete(f"/api/sessions/{session_id}")).status_code == 200

    for op in every_kind_of_write(session_id):
        with pytest.raises(SessionNotFound):
            await other_writer.write(op)
    mixed = await other_writer.write_batch([LogEvent(live, "kept"), LogEvent(session_id, "x")])
    assert mixed.missing == [1]
    assert await rows_under(repo, pk) == NOTHING
    # The same writer goes on serving live sessions.
    await other_writer.write(LogEvent(live, "after"))
    assert [e["name"] for e in (await repo.list_events(live)).items] == ["after"]


async def test_a_deleted_sessions_pk_is_never_given_to_a_new_session(
    client: httpx.AsyncClient, repo: Repository
) -> None:
    """Caches in other processes key on pks; SQLite would otherwise reuse the largest."""
    newest = (await client.post("/api/sessions")).json()["session_id"]
    pk = (await repo.get_session(newest))["pk"]
    assert (await client.delete(f"/api/sessions/{newest}")).status_code == 200
    after = (await client.post("/api/sessions")).json()["session_id"]
    assert (await repo.get_session(after))["pk"] > pk


async def test_writes_racing_a_deletion_get_200_or_404_and_nothing_is_left(
    client: httpx.AsyncClient, repo: Repository, other_writer: Repository
) -> None:
    """A session large enough to take several deletion transactions, written to all along
    by the app and by another writer: delete wins, and no write gets an error."""
    session_id = (await client.post("/api/sessions")).json()["session_id"]
    pk = (await repo.get_session(session_id))["pk"]
    total = 3 * prune.BATCH_ROWS
    for start in range(0, total, 2_000):
        items = [
            {"op": "event", "session_id": session_id, "name": "bulk", "data": {"i": i}}
            for i in range(start, min(start + 2_000, total))
        ]
        assert (await client.post("/api/batch", json={"items": items})).status_code == 200
    await other_writer.write(LogEvent(session_id, "cache-the-pk"))

    deletion = asyncio.create_task(client.delete(f"/api/sessions/{session_id}"))
    answers: list[int] = []
    outcomes: list[str] = []

    async def through_the_app() -> None:
        url = f"/api/sessions/{session_id}"
        for i in range(10_000):
            finished = deletion.done()
            path, body = (
                ("/events", {"name": "race"}),
                ("/metrics", {"name": "race", "value": i}),
                ("/state", {"i": i}),
                ("/heartbeat", None),
            )[i % 4]
            answers.append((await client.post(f"{url}{path}", json=body)).status_code)
            if finished:
                return

    async def through_another_writer() -> None:
        for i in range(10_000):
            finished = deletion.done()
            op: Any = every_kind_of_write(session_id)[i % 5]
            try:
                await other_writer.write(op)
                outcomes.append("ok")
            except SessionNotFound:
                outcomes.append("missing")
            if finished:
                return

    await asyncio.gather(through_the_app(), through_another_writer())
    assert (await deletion).status_code == 200
    assert set(answers) <= {200, 404} and set(outcomes) <= {"ok", "missing"}
    # The writes really raced the deletion (some were accepted while it ran), and the
    # ones after it were refused.
    assert answers.count(200) > 0 and outcomes.count("ok") > 1
    assert answers[-1] == 404 and outcomes[-1] == "missing"
    assert await rows_under(repo, pk) == NOTHING
