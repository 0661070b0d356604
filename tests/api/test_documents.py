"""Session objects whose events the database writes as JSON: the same values as the
Python rendering, on both backends, and ETags that change exactly when the data does."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from datacat.api import render
from datacat.store.ops import LogEvent, LogMetric
from datacat.store.repository import Repository

# Names and data that JSON must escape; times before 1970, at whole seconds and at the
# last microsecond of a second (the database formats these itself).
AWKWARD = [
    ('quote " backslash \\ slash /', {"k": 'v"\\'}, -1),
    ("newline\n tab\t bell\x07", ["a", 1, 2.5, None, True], 0),
    ("unicode é 中 😀", {"é": {"中": ["😀"]}}, 1),
    ("control \x1f\x7f", None, 999_999),
    ("plain", 12345678901234567, -86_400_000_001),
    ("float", 0.1, 1_795_926_088_342_978),
    ("nested", {"a": {"b": {"c": [[], {}]}}}, 253_402_300_799_999_999),  # 9999-12-31
]


async def python_rendering(repo: Repository, session_id: str) -> dict[str, Any]:
    """The session object built row by row in Python, from the paged listings."""

    def without_id(item: dict[str, Any]) -> dict[str, Any]:
        item.pop("id")
        return item

    body = render.session_summary(await repo.get_session(session_id))
    events = (await repo.list_events(session_id, limit=10_000)).items
    metrics = (await repo.list_metrics(session_id, limit=10_000)).items
    body["events"] = [without_id(render.event_out(row)) for row in events]
    body["metrics"] = [without_id(render.metric_out(row)) for row in metrics]
    return body


async def test_database_built_events_equal_the_python_rendering(
    client: httpx.AsyncClient, repo: Repository, session_id: str
) -> None:
    ops = [LogEvent(session_id, name, data, ts) for name, data, ts in AWKWARD]
    ops += [LogMetric(session_id, "m", value, ["t"], 1_000) for value in (0.1, 5.0, 1e300, -0.0)]
    assert not (await repo.write_batch(ops)).missing
    expected = await python_rendering(repo, session_id)
    response = await client.get(f"/api/sessions/{session_id}")
    assert response.status_code == 200
    assert response.json() == expected
    assert [e["timestamp"][:4] for e in expected["events"]][-1] == "9999"
    # Floats keep their type and value (5.0 stays a float, not 5).
    assert [type(m["value"]) for m in response.json()["metrics"]] == [float] * 4

    export = (await client.get("/api/grafana/sessions")).json()
    assert [s for s in export if s["id"] == session_id] == [expected]


async def test_a_session_of_several_chunks_keeps_its_order(
    client: httpx.AsyncClient, repo: Repository, session_id: str, monkeypatch: object
) -> None:
    from datacat.store import repository

    monkeypatch.setattr(repository, "EXPORT_CHUNK", 7)  # type: ignore[attr-defined]
    other = (await client.post("/api/sessions")).json()["session_id"]
    ops = []
    for i in range(40):  # interleaved, so ids of the two sessions alternate
        ops += [LogEvent(session_id, f"e{i}", {"i": i}), LogEvent(other, f"o{i}", i)]
        ops.append(LogMetric(session_id, "m", float(i)))
    await repo.write_batch(ops)
    body = (await client.get(f"/api/sessions/{session_id}")).json()
    assert [e["name"] for e in body["events"]] == [f"e{i}" for i in range(40)]
    assert [m["value"] for m in body["metrics"]] == [float(i) for i in range(40)]
    export = {s["id"]: s for s in (await client.get("/api/grafana/sessions")).json()}
    assert export[session_id]["events"] == body["events"]
    assert [e["data"] for e in export[other]["events"]] == list(range(40))
    # Again, now partly from the chunk cache (on SQLite), and after the sessions grew.
    again = {s["id"]: s for s in (await client.get("/api/grafana/sessions")).json()}
    assert again == export
    await repo.write_batch([LogEvent(other, "late", 40), LogEvent(session_id, "late", 40)])
    grown = {s["id"]: s for s in (await client.get("/api/grafana/sessions")).json()}
    assert [e["data"] for e in grown[other]["events"]] == list(range(41))
    assert grown[session_id]["events"][-1]["name"] == "late"
    assert (await client.get(f"/api/sessions/{other}")).json()["events"] == grown[other]["events"]


async def test_etag_answers_304_until_the_session_changes(
    client: httpx.AsyncClient, session_id: str
) -> None:
    url = f"/api/sessions/{session_id}"
    first = await client.get(url)
    etag = first.headers["etag"]
    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert (await client.get(url, headers={"If-None-Match": '"other"'})).status_code == 200

    seen = {etag}
    for path, body in (
        ("events", {"name": "e"}),
        ("metrics", {"name": "m", "value": 1}),
        ("state", {"k": 1}),
        ("heartbeat", None),
        ("end", None),
    ):
        assert (await client.post(f"{url}/{path}", json=body)).status_code == 200
        changed = await client.get(url, headers={"If-None-Match": etag})
        assert changed.status_code == 200, path
        etag = changed.headers["etag"]
        assert etag not in seen, path
        seen.add(etag)
        assert orjson.loads(changed.content)["id"] == session_id


async def test_export_etag_changes_with_any_session(client: httpx.AsyncClient) -> None:
    first = await client.get("/api/grafana/sessions")
    etag = first.headers["etag"]
    assert (
        await client.get("/api/grafana/sessions", headers={"If-None-Match": etag})
    ).status_code == 304
    # The same data under another filter is another document.
    filtered = await client.get("/api/grafana/sessions?limit=1")
    assert filtered.headers["etag"] != etag
    new = (await client.post("/api/sessions")).json()["session_id"]
    after = await client.get("/api/grafana/sessions", headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert new in {s["id"] for s in after.json()}
    etag = after.headers["etag"]
    await client.post(f"/api/sessions/{new}/events", json={"name": "late"})
    assert (
        await client.get("/api/grafana/sessions", headers={"If-None-Match": etag})
    ).status_code == 200


async def test_cached_chunks_serve_later_reads_and_never_hide_new_events(
    client: httpx.AsyncClient, repo: Repository, session_id: str, monkeypatch: object
) -> None:
    from datacat.store import repository

    monkeypatch.setattr(repository, "EXPORT_CHUNK", 4)  # type: ignore[attr-defined]
    url = f"/api/sessions/{session_id}"
    await repo.write_batch([LogEvent(session_id, f"e{i}", i) for i in range(10)])
    first = (await client.get(url)).json()
    assert [e["data"] for e in first["events"]] == list(range(10))
    cache = repo._chunks
    if cache is not None:
        assert cache.held_bytes > 0  # the two full chunks of four
    await repo.write_batch([LogEvent(session_id, f"e{i}", i) for i in range(10, 23)])
    second = (await client.get(url)).json()
    assert [e["data"] for e in second["events"]] == list(range(23))
    assert second["events"][:10] == first["events"]
    assert (await client.get(url)).json() == second


async def test_small_sessions_cached_by_an_export_still_show_what_came_after(
    client: httpx.AsyncClient, repo: Repository, monkeypatch: object
) -> None:
    from datacat.store import repository

    monkeypatch.setattr(repository, "EXPORT_CHUNK", 5)  # type: ignore[attr-defined]
    ids = [(await client.post("/api/sessions")).json()["session_id"] for _ in range(3)]
    await repo.write_batch([LogEvent(sid, "e", i) for sid in ids for i in range(2)])

    async def exported() -> dict[str, list[object]]:
        body = (await client.get("/api/grafana/sessions")).json()
        return {s["id"]: [e["data"] for e in s["events"]] for s in body if s["id"] in ids}

    assert await exported() == {sid: [0, 1] for sid in ids}
    await repo.write_batch([LogEvent(ids[1], "e", 2)])
    assert await exported() == {ids[0]: [0, 1], ids[1]: [0, 1, 2], ids[2]: [0, 1]}
    single = (await client.get(f"/api/sessions/{ids[1]}")).json()
    assert [e["data"] for e in single["events"]] == [0, 1, 2]
