"""Every request in the seed README's "API Endpoints" section, sent as written there."""

from __future__ import annotations

import re

import httpx

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def test_create_session_with_no_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/sessions")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["session_id"]
    assert re.fullmatch(r"[0-9a-f-]{36}", body["session_id"])


async def test_create_session_with_labels(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/sessions",
        json={"product": "probe", "version": "1.2", "host": "h1", "metadata": {"k": 1}},
    )
    assert response.status_code == 200
    session = (await client.get(f"/api/sessions/{response.json()['session_id']}")).json()
    assert (session["product"], session["version"], session["host"]) == ("probe", "1.2", "h1")
    assert session["metadata"] == {"k": 1}


async def test_form_encoded_json_body_is_accepted_like_the_seed(
    client: httpx.AsyncClient, session_id: str
) -> None:
    # `curl -d '{...}'` sends application/x-www-form-urlencoded; the Go seed decoded it anyway.
    response = await client.post(
        f"/api/sessions/{session_id}/state",
        content=b'{"via": "curl"}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert (await client.get(f"/api/sessions/{session_id}")).json()["state"] == {"via": "curl"}


async def test_seed_walkthrough(client: httpx.AsyncClient, session_id: str) -> None:
    base = f"/api/sessions/{session_id}"
    ok = {"status": "ok"}
    assert (
        await client.post(f"{base}/state", json={"key": "value", "nested": {"key": "value"}})
    ).json() == ok
    assert (
        await client.post(f"{base}/events", json={"name": "event_name", "data": {"key": "value"}})
    ).json() == ok
    metric = {"name": "metric_name", "value": 123.45, "tags": ["tag1", "tag2"]}
    assert (await client.post(f"{base}/metrics", json=metric)).json() == ok

    session = (await client.get(base)).json()
    for key in (
        "id",
        "created_at",
        "updated_at",
        "ended_at",
        "active",
        "state",
        "events",
        "metrics",
    ):
        assert key in session
    assert session["id"] == session_id
    assert session["active"] is True and session["ended_at"] is None
    assert RFC3339.match(session["created_at"]) and RFC3339.match(session["updated_at"])
    assert session["state"] == {"key": "value", "nested": {"key": "value"}}
    [event] = session["events"]
    assert event["name"] == "event_name" and event["data"] == {"key": "value"}
    assert RFC3339.match(event["timestamp"])
    [stored] = session["metrics"]
    assert {k: stored[k] for k in ("name", "value", "tags")} == metric
    assert RFC3339.match(stored["timestamp"])

    assert (await client.post(f"{base}/end")).json() == ok
    ended = (await client.get(base)).json()
    assert ended["active"] is False and RFC3339.match(ended["ended_at"])
    assert ended["status"] == "ended"


async def test_grafana_export_is_an_array_of_session_objects(
    client: httpx.AsyncClient, session_id: str
) -> None:
    await client.post(f"/api/sessions/{session_id}/events", json={"name": "exported"})
    response = await client.get("/api/grafana/sessions")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    sessions = response.json()
    assert isinstance(sessions, list)
    mine = [s for s in sessions if s["id"] == session_id]
    assert len(mine) == 1
    assert [e["name"] for e in mine[0]["events"]] == ["exported"]
    assert {"id", "created_at", "active", "state", "events", "metrics"} <= set(mine[0])
