"""Deep-merged state through the API, its history, and concurrent updates."""

from __future__ import annotations

import asyncio

import httpx


async def state_of(client: httpx.AsyncClient, session_id: str) -> dict:
    return (await client.get(f"/api/sessions/{session_id}")).json()["state"]


async def test_seed_nested_state_example(client: httpx.AsyncClient, session_id: str) -> None:
    url = f"/api/sessions/{session_id}/state"
    await client.post(
        url,
        json={
            "window_state": {"open": ["window 1", "window 2"], "active": "window 1"},
            "memory": {"footprint_mb": 50.2},
            "settings": {"theme": "dark"},
        },
    )
    await client.post(url, json={"window_state": {"open": ["window 1", "window 2", "window 3"]}})
    await client.post(url, json={"memory": {"footprint_mb": 75.5}})
    assert await state_of(client, session_id) == {
        "window_state": {"open": ["window 1", "window 2", "window 3"], "active": "window 1"},
        "memory": {"footprint_mb": 75.5},
        "settings": {"theme": "dark"},
    }


async def test_null_is_stored_not_deleted_and_scalars_replace_objects(
    client: httpx.AsyncClient, session_id: str
) -> None:
    url = f"/api/sessions/{session_id}/state"
    await client.post(url, json={"a": {"b": 1, "c": 2}, "d": 1})
    await client.post(url, json={"a": {"b": None}, "d": {"now": "object"}})
    await client.post(url, json={"a": 7})
    assert await state_of(client, session_id) == {"a": 7, "d": {"now": "object"}}
    await client.post(url, json={"e": None})
    assert (await state_of(client, session_id))["e"] is None


async def test_history_keeps_every_patch_in_order(
    client: httpx.AsyncClient, session_id: str
) -> None:
    patches = [{"step": i, "nested": {f"k{i}": i}} for i in range(5)]
    for patch in patches:
        await client.post(f"/api/sessions/{session_id}/state", json=patch)
    page = (await client.get(f"/api/sessions/{session_id}/state/history?limit=3")).json()
    rest = (
        await client.get(f"/api/sessions/{session_id}/state/history?cursor={page['next_cursor']}")
    ).json()
    items = page["items"] + rest["items"]
    assert [item["patch"] for item in items] == patches
    assert rest["next_cursor"] is None
    assert [item["timestamp"] for item in items] == sorted(item["timestamp"] for item in items)


async def test_fifty_concurrent_updates_on_distinct_keys_lose_none(
    client: httpx.AsyncClient, session_id: str
) -> None:
    url = f"/api/sessions/{session_id}/state"
    responses = await asyncio.gather(
        *(client.post(url, json={"shared": {f"key{i}": i}, f"top{i}": True}) for i in range(50))
    )
    assert all(r.status_code == 200 for r in responses)
    state = await state_of(client, session_id)
    assert state["shared"] == {f"key{i}": i for i in range(50)}
    assert all(state[f"top{i}"] is True for i in range(50))
    history = (await client.get(f"/api/sessions/{session_id}/state/history")).json()
    assert len(history["items"]) == 50
