"""Session listing, state filters, paging, and the metrics series query."""

from __future__ import annotations

import uuid

import httpx
import pytest


async def new_session(client: httpx.AsyncClient, product: str, state: dict | None = None) -> str:
    session_id = (await client.post("/api/sessions", json={"product": product})).json()[
        "session_id"
    ]
    if state is not None:
        await client.post(f"/api/sessions/{session_id}/state", json=state)
    return session_id


async def ids(client: httpx.AsyncClient, query: str) -> set[str]:
    response = await client.get(f"/api/sessions?{query}&limit=500")
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


@pytest.fixture
def product() -> str:
    return f"p-{uuid.uuid4().hex[:8]}"


async def test_state_filter_modes(client: httpx.AsyncClient, product: str) -> None:
    probe_open = await new_session(
        client, product, {"window_state": {"open": ["main", "space probe"]}, "level": 5}
    )
    probe_closed = await new_session(
        client, product, {"window_state": {"open": ["main", "space probe"]}, "level": "5"}
    )
    await client.post(
        f"/api/sessions/{probe_closed}/state", json={"window_state": {"open": ["main"]}}
    )
    never = await new_session(
        client, product, {"window_state": {"open": "space probe"}, "on": True}
    )

    path = "state_path=window_state.open&state_value=space%20probe"
    assert await ids(client, f"product={product}&{path}&state_mode=contains") == {probe_open}
    assert await ids(client, f"product={product}&{path}&state_mode=ever") == {
        probe_open,
        probe_closed,
        never,
    }
    assert await ids(client, f"product={product}&{path}&state_mode=current") == {never}
    # Values compare as text, as the seed did: 5 matches 5 and "5"; true matches true.
    assert await ids(client, f"product={product}&state_path=level&state_value=5") == {
        probe_open,
        probe_closed,
    }
    assert await ids(client, f"product={product}&state_path=on&state_value=true") == {never}
    assert await ids(client, f"product={product}&state_path=missing.key&state_value=5") == set()


async def test_ever_sees_values_set_through_a_parent_object(
    client: httpx.AsyncClient, product: str
) -> None:
    session_id = await new_session(client, product, {"app": {"status": "running"}})
    await client.post(f"/api/sessions/{session_id}/state", json={"app": "gone"})
    query = f"product={product}&state_path=app.status&state_value=running"
    assert await ids(client, f"{query}&state_mode=ever") == {session_id}
    assert await ids(client, f"{query}&state_mode=current") == set()


async def test_status_active_and_time_filters(client: httpx.AsyncClient, product: str) -> None:
    running = await new_session(client, product)
    ended = await new_session(client, product)
    await client.post(f"/api/sessions/{ended}/end")
    assert await ids(client, f"product={product}&status=ended") == {ended}
    assert await ids(client, f"product={product}&active=true") == {running}
    assert await ids(client, f"product={product}&active=false") == {ended}
    assert await ids(client, f"product={product}&created_after=2000-01-01T00:00:00Z") == {
        running,
        ended,
    }
    assert await ids(client, f"product={product}&created_before=2000-01-01T00:00:00Z") == set()


async def test_cursor_pagination_visits_each_session_once(
    client: httpx.AsyncClient, product: str
) -> None:
    created = [await new_session(client, product) for _ in range(7)]
    for sort in ("-created_at", "created_at", "-updated_at"):
        seen: list[str] = []
        cursor = None
        while True:
            query = f"product={product}&limit=3&sort={sort}"
            if cursor:
                query += f"&cursor={cursor}"
            page = (await client.get(f"/api/sessions?{query}")).json()
            assert "events" not in page["items"][0]
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(created) and len(seen) == 7
        if sort == "created_at":
            assert seen == created
        if sort == "-created_at":
            assert seen == created[::-1]


async def test_events_and_metrics_pages_filter_by_name_and_time(
    client: httpx.AsyncClient, session_id: str
) -> None:
    items = [
        {
            "op": "event",
            "session_id": session_id,
            "name": "tick" if i % 2 else "tock",
            "timestamp": f"2026-01-01T00:00:{i:02d}Z",
        }
        for i in range(10)
    ] + [
        {
            "op": "metric",
            "session_id": session_id,
            "name": "load",
            "value": i,
            "timestamp": f"2026-01-01T00:00:{i:02d}Z",
        }
        for i in range(10)
    ]
    await client.post("/api/batch", json={"items": items})
    base = f"/api/sessions/{session_id}"
    ticks = (await client.get(f"{base}/events?name=tick&limit=2")).json()
    assert len(ticks["items"]) == 2 and ticks["next_cursor"]
    rest = (await client.get(f"{base}/events?name=tick&cursor={ticks['next_cursor']}")).json()
    assert len(ticks["items"] + rest["items"]) == 5
    window = (
        await client.get(f"{base}/metrics?since=2026-01-01T00:00:03Z&until=2026-01-01T00:00:06Z")
    ).json()
    assert [m["value"] for m in window["items"]] == [3, 4, 5]


async def test_series_aggregations_and_state_filter(
    client: httpx.AsyncClient, product: str
) -> None:
    metric = f"memory_{uuid.uuid4().hex[:6]}"
    probe = await new_session(client, product, {"window_state": {"open": ["space probe"]}})
    other = await new_session(client, product, {"window_state": {"open": ["map"]}})
    for session, values in ((probe, [100, 300, 200]), (other, [50, 900])):
        for value in values:
            await client.post(
                f"/api/sessions/{session}/metrics", json={"name": metric, "value": value}
            )
    url = f"/api/metrics/series?name={metric}&product={product}"
    everything = (await client.get(f"{url}&aggregation=all")).json()
    assert len(everything["points"]) == 5 and everything["sessions_matched"] == 2
    assert (everything["peak"], everything["min"], everything["average"]) == (900, 50, 310)
    assert everything["points"] == sorted(everything["points"], key=lambda p: p["timestamp"])

    peaks = (await client.get(f"{url}&aggregation=peak")).json()
    assert sorted(p["value"] for p in peaks["points"]) == [300, 900]
    averages = (await client.get(f"{url}&aggregation=avg")).json()
    assert sorted(p["value"] for p in averages["points"]) == [200, 475]
    minimums = (await client.get(f"{url}&aggregation=min")).json()
    assert sorted(p["value"] for p in minimums["points"]) == [50, 100]

    filtered = (
        await client.get(
            f"{url}&aggregation=peak&state_mode=contains"
            "&state_path=window_state.open&state_value=space%20probe"
        )
    ).json()
    assert [(p["session_id"], p["value"]) for p in filtered["points"]] == [(probe, 300)]
    assert filtered["peak"] == 300 and filtered["sessions_matched"] == 1

    capped = (await client.get(f"{url}&limit=2")).json()
    assert len(capped["points"]) == 2 and capped["truncated"] is True
    assert capped["points_matched"] == 5

    names = (await client.get("/api/metrics/names")).json()["names"]
    assert metric in names and names == sorted(names)


async def test_export_filters_and_limit(client: httpx.AsyncClient, product: str) -> None:
    first = await new_session(client, product)
    second = await new_session(client, product)
    await client.post(f"/api/sessions/{second}/end")
    exported = (await client.get(f"/api/grafana/sessions?product={product}")).json()
    assert [s["id"] for s in exported] == [first, second]
    only_active = (await client.get(f"/api/grafana/sessions?product={product}&active=true")).json()
    assert [s["id"] for s in only_active] == [first]
    limited = (await client.get(f"/api/grafana/sessions?product={product}&limit=1")).json()
    assert [s["id"] for s in limited] == [first]
    recent = (
        await client.get(f"/api/grafana/sessions?product={product}&since=2999-01-01T00:00:00Z")
    ).json()
    assert recent == []


async def test_health_and_readiness(client: httpx.AsyncClient, backend: str) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ok", "database": backend}


async def test_export_streams_in_chunks_without_changing_a_byte(
    client: httpx.AsyncClient, product: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datacat.store import repository

    shapes = [(0, 0), (5, 0), (0, 4), (7, 7), (1, 1)]
    ids_in_order = []
    for n_events, n_metrics in shapes:
        session_id = await new_session(client, product, {"n": n_events})
        ids_in_order.append(session_id)
        items = [
            {"op": "event", "session_id": session_id, "name": f"e{i}", "data": {"i": i}}
            for i in range(n_events)
        ] + [
            {"op": "metric", "session_id": session_id, "name": "m", "value": i, "tags": ["t"]}
            for i in range(n_metrics)
        ]
        await client.post("/api/batch", json={"items": items})
    expected = [(await client.get(f"/api/sessions/{i}")).json() for i in ids_in_order]
    # Tiny pages and chunks make every boundary case occur: a session split across
    # chunks, chunks holding several sessions, sessions with nothing logged.
    monkeypatch.setattr(repository, "EXPORT_PAGE", 2)
    monkeypatch.setattr(repository, "EXPORT_CHUNK", 3)
    exported = (await client.get(f"/api/grafana/sessions?product={product}")).json()
    assert exported == expected


@pytest.mark.parametrize("aggregation", ["all", "avg"])
async def test_series_of_huge_values_is_an_answer_not_a_500(
    client: httpx.AsyncClient, product: str, aggregation: str
) -> None:
    # PostgreSQL's avg(float8) squared these and overflowed (found by schemathesis).
    metric = f"huge_{uuid.uuid4().hex[:6]}"
    session = await new_session(client, product, {})
    for value in (1e300, 1e300, -1e300, 1.7e308):
        response = await client.post(
            f"/api/sessions/{session}/metrics", json={"name": metric, "value": value}
        )
        assert response.status_code == 200
    response = await client.get(f"/api/metrics/series?name={metric}&aggregation={aggregation}")
    assert response.status_code == 200, response.text
    assert response.json()["average"] == pytest.approx((1e300 + 1.7e308) / 4)


async def test_events_whose_data_is_a_bare_number_list_as_numbers(
    client: httpx.AsyncClient, product: str
) -> None:
    # SQLite's JSON column has numeric affinity: a bare number was stored as a number
    # and the listing's JSON decoding of it failed (a 500).
    session = await new_session(client, product, {})
    for data in (5, 0.1, 12345678901234567, "7", None):
        response = await client.post(
            f"/api/sessions/{session}/events", json={"name": "n", "data": data}
        )
        assert response.status_code == 200
    listed = await client.get(f"/api/sessions/{session}/events")
    assert listed.status_code == 200, listed.text
    assert [e["data"] for e in listed.json()["items"]] == [5, 0.1, 12345678901234567, "7", None]
