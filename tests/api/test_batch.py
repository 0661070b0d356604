"""POST /api/batch: ordered, atomic, idempotent by client id."""

from __future__ import annotations

import httpx


async def test_batch_applies_every_kind_in_order(client: httpx.AsyncClient) -> None:
    a = (await client.post("/api/sessions")).json()["session_id"]
    b = (await client.post("/api/sessions")).json()["session_id"]
    items = [
        {"op": "state", "session_id": a, "state": {"phase": {"n": 1}}},
        {"op": "event", "session_id": a, "name": "first", "data": {"i": 1}},
        {"op": "metric", "session_id": b, "name": "mem", "value": 10, "tags": ["t"]},
        {"op": "state", "session_id": a, "state": {"phase": {"m": 2}}},
        {"op": "event", "session_id": a, "name": "second", "timestamp": "2026-01-01T00:00:00Z"},
        {"op": "heartbeat", "session_id": b, "timeout": 60},
        {"op": "end", "session_id": b},
    ]
    response = await client.post("/api/batch", json={"items": items})
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "accepted": 7, "duplicates": 0}
    session_a = (await client.get(f"/api/sessions/{a}")).json()
    assert session_a["state"] == {"phase": {"n": 1, "m": 2}}
    assert [e["name"] for e in session_a["events"]] == ["first", "second"]
    assert session_a["events"][1]["timestamp"] == "2026-01-01T00:00:00.000000Z"
    session_b = (await client.get(f"/api/sessions/{b}")).json()
    assert session_b["metrics"][0]["value"] == 10 and session_b["status"] == "ended"
    assert session_b["heartbeat_timeout"] == 60


async def test_resent_batch_counts_duplicates_and_stores_once(
    client: httpx.AsyncClient, session_id: str
) -> None:
    items = [
        {"op": "event", "session_id": session_id, "name": "e", "id": f"e{i}"} for i in range(10)
    ] + [
        {"op": "metric", "session_id": session_id, "name": "m", "value": i, "id": f"m{i}"}
        for i in range(10)
    ]
    first = await client.post("/api/batch", json={"items": items})
    assert first.json() == {"status": "ok", "accepted": 20, "duplicates": 0}
    again = await client.post("/api/batch", json={"items": [*items, items[0]]})
    assert again.json() == {"status": "ok", "accepted": 0, "duplicates": 21}
    session = (await client.get(f"/api/sessions/{session_id}")).json()
    assert len(session["events"]) == 10 and len(session["metrics"]) == 10


async def test_repeat_within_one_batch_is_a_duplicate(
    client: httpx.AsyncClient, session_id: str
) -> None:
    item = {"op": "event", "session_id": session_id, "name": "e", "id": "same"}
    response = await client.post("/api/batch", json={"items": [item, item]})
    assert response.json() == {"status": "ok", "accepted": 1, "duplicates": 1}


async def test_single_post_ids_are_idempotent_too(
    client: httpx.AsyncClient, session_id: str
) -> None:
    for _ in range(3):
        await client.post(
            f"/api/sessions/{session_id}/events", json={"name": "once", "id": "evt-1"}
        )
        await client.post(
            f"/api/sessions/{session_id}/metrics", json={"name": "once", "value": 1, "id": "evt-1"}
        )
    session = (await client.get(f"/api/sessions/{session_id}")).json()
    assert len(session["events"]) == 1 and len(session["metrics"]) == 1


async def test_bad_items_reject_the_whole_batch_listing_each_index(
    client: httpx.AsyncClient, session_id: str
) -> None:
    items = [
        {"op": "event", "session_id": session_id, "name": "fine"},
        {"op": "metric", "session_id": session_id, "name": "m", "value": "high"},
        {"op": "event", "session_id": session_id, "name": ""},
        {"op": "teleport", "session_id": session_id},
    ]
    response = await client.post("/api/batch", json={"items": items})
    assert response.status_code == 422
    assert sorted({e["index"] for e in response.json()["detail"]}) == [1, 2, 3]
    session = (await client.get(f"/api/sessions/{session_id}")).json()
    assert session["events"] == [] and session["metrics"] == []


async def test_unknown_session_rejects_the_batch(
    client: httpx.AsyncClient, session_id: str
) -> None:
    items = [
        {"op": "event", "session_id": session_id, "name": "fine"},
        {"op": "event", "session_id": "no-such-session", "name": "lost"},
    ]
    response = await client.post("/api/batch", json={"items": items})
    assert response.status_code == 422
    assert [e["index"] for e in response.json()["detail"]] == [1]
    assert (await client.get(f"/api/sessions/{session_id}")).json()["events"] == []


async def test_batch_limits(client: httpx.AsyncClient, session_id: str) -> None:
    item = {"op": "heartbeat", "session_id": session_id}
    too_many = await client.post("/api/batch", json={"items": [item] * 5001})
    assert too_many.status_code == 422 and "at most 5000" in too_many.json()["detail"]
    blob = {"op": "event", "session_id": session_id, "name": "big", "data": "x" * 1_000_000}
    too_big = await client.post("/api/batch", json={"items": [blob] * 5})
    assert too_big.status_code == 413
    empty = await client.post("/api/batch", json={"items": []})
    assert empty.json() == {"status": "ok", "accepted": 0, "duplicates": 0}
    assert (await client.get(f"/api/sessions/{session_id}")).json()["events"] == []


async def test_batch_mixing_new_and_repeated_ids_counts_each(
    client: httpx.AsyncClient, session_id: str
) -> None:
    def item(i: int) -> dict:
        return {"op": "event", "session_id": session_id, "name": f"e{i}", "id": f"mix{i}"}

    await client.post("/api/batch", json={"items": [item(i) for i in range(0, 10, 2)]})
    response = await client.post("/api/batch", json={"items": [item(i) for i in range(10)]})
    assert response.json() == {"status": "ok", "accepted": 5, "duplicates": 5}
    names = [e["name"] for e in (await client.get(f"/api/sessions/{session_id}")).json()["events"]]
    assert sorted(names) == sorted(f"e{i}" for i in range(10))


async def test_resent_state_items_with_ids_apply_once(
    client: httpx.AsyncClient, session_id: str
) -> None:
    items = [
        {"op": "state", "session_id": session_id, "state": {"n": {"a": 1}}, "id": "s1"},
        {"op": "state", "session_id": session_id, "state": {"n": 2}, "id": "s2"},
        {"op": "state", "session_id": session_id, "state": {"n": {"b": 3}}, "id": "s3"},
    ]
    first = await client.post("/api/batch", json={"items": items})
    assert first.json() == {"status": "ok", "accepted": 3, "duplicates": 0}
    # The answer was lost, so the client sends the same batch again, plus one new patch.
    extra = {"op": "state", "session_id": session_id, "state": {"m": 1}, "id": "s4"}
    again = await client.post("/api/batch", json={"items": [*items, extra]})
    assert again.json() == {"status": "ok", "accepted": 1, "duplicates": 3}
    session = (await client.get(f"/api/sessions/{session_id}")).json()
    assert session["state"] == {"n": {"b": 3}, "m": 1}
    history = (await client.get(f"/api/sessions/{session_id}/state/history")).json()
    assert len(history["items"]) == 4
