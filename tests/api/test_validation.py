"""Bad input gets a clear 4xx naming the problem, as JSON, and writes nothing."""

from __future__ import annotations

import httpx
import pytest

UNKNOWN = "00000000-0000-4000-8000-000000000000"
WRITE_PATHS = ("state", "events", "metrics", "end", "heartbeat")


async def snapshot(client: httpx.AsyncClient, session_id: str) -> dict:
    body = (await client.get(f"/api/sessions/{session_id}")).json()
    history = (await client.get(f"/api/sessions/{session_id}/state/history")).json()
    return {k: body[k] for k in ("state", "events", "metrics", "active", "status")} | {
        "history": history["items"]
    }


def names_field(response: httpx.Response, field: str) -> bool:
    detail = response.json()["detail"]
    return any(field in [str(part) for part in error["loc"]] for error in detail)


@pytest.mark.parametrize("path", ["", *WRITE_PATHS])
async def test_unknown_session_is_404_json(client: httpx.AsyncClient, path: str) -> None:
    body = {"name": "x", "value": 1} if path in ("events", "metrics") else {}
    if path == "":
        response = await client.get(f"/api/sessions/{UNKNOWN}")
    else:
        response = await client.post(f"/api/sessions/{UNKNOWN}/{path}", json=body)
    assert response.status_code == 404
    assert UNKNOWN in response.json()["detail"]


@pytest.mark.parametrize("suffix", ["events", "metrics", "state/history"])
async def test_unknown_session_reads_are_404(client: httpx.AsyncClient, suffix: str) -> None:
    response = await client.get(f"/api/sessions/{UNKNOWN}/{suffix}")
    assert response.status_code == 404


async def test_session_id_with_nul_is_404_not_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/sessions/abc%00def")
    assert response.status_code == 404
    response = await client.post("/api/sessions/abc%00def/events", json={"name": "x"})
    assert response.status_code == 404


BAD_BODIES = [
    ("state", b"not json", "body"),
    ("state", b"[1, 2]", "body"),
    ("state", b'"text"', "body"),
    ("state", b'{"a": "nul\\u0000here"}', "body"),
    ("state", b'{"key\\u0000": 1}', "body"),
    ("events", b"{}", "name"),
    ("events", b'{"name": ""}', "name"),
    ("events", b'{"name": "' + b"x" * 257 + b'"}', "name"),
    ("events", b'{"name": 5}', "name"),
    ("events", b'{"name": "a\\u0000b"}', "name"),
    ("events", b'{"name": "ok", "data": {"s": "\\u0000"}}', "data"),
    ("events", b'{"name": "ok", "timestamp": "yesterday"}', "timestamp"),
    ("events", b'{"name": "ok", "id": ""}', "id"),
    ("events", b'{"name": "ok", "id": "' + b"i" * 65 + b'"}', "id"),
    ("metrics", b'{"name": "m"}', "value"),
    ("metrics", b'{"name": "m", "value": "12"}', "value"),
    ("metrics", b'{"name": "m", "value": true}', "value"),
    ("metrics", b'{"name": "m", "value": 1e999}', "value"),
    ("metrics", b'{"name": "m", "value": 1, "tags": "notalist"}', "tags"),
    ("metrics", b'{"name": "m", "value": 1, "tags": ["a\\u0000"]}', "tags"),
    ("metrics", b'{"value": 1}', "name"),
    ("end", b'{"status": "exploded"}', "status"),
    ("heartbeat", b'{"timeout": -1}', "timeout"),
]


@pytest.mark.parametrize(("path", "raw", "field"), BAD_BODIES)
async def test_bad_body_is_422_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient, session_id: str, path: str, raw: bytes, field: str
) -> None:
    before = await snapshot(client, session_id)
    response = await client.post(
        f"/api/sessions/{session_id}/{path}",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert names_field(response, field), response.json()
    assert await snapshot(client, session_id) == before


@pytest.mark.parametrize(
    "raw",
    [b'{"name": "m", "value": NaN}', b'{"name": "m", "value": -Infinity}', b'{"name": "m", "value'],
)
async def test_body_that_is_not_json_is_422(
    client: httpx.AsyncClient, session_id: str, raw: bytes
) -> None:
    before = await snapshot(client, session_id)
    response = await client.post(
        f"/api/sessions/{session_id}/metrics",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
    assert await snapshot(client, session_id) == before


async def test_integers_beyond_64_bits_are_still_json(
    client: httpx.AsyncClient, session_id: str
) -> None:
    response = await client.post(
        f"/api/sessions/{session_id}/state",
        content=b'{"big": 123456789012345678901234567890}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "raw",
    [b'{"product": 5}', b'{"metadata": [1]}', b'{"heartbeat_timeout": 0}', b'{"host": "\\u0000"}'],
)
async def test_bad_session_create_is_422(client: httpx.AsyncClient, raw: bytes) -> None:
    before = len((await client.get("/api/grafana/sessions")).json())
    response = await client.post(
        "/api/sessions", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert len((await client.get("/api/grafana/sessions")).json()) == before


async def test_body_over_the_limit_is_413_and_writes_nothing(
    client: httpx.AsyncClient, session_id: str
) -> None:
    before = await snapshot(client, session_id)
    big = {"blob": "x" * (1024 * 1024 + 10)}
    response = await client.post(f"/api/sessions/{session_id}/state", json=big)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    assert await snapshot(client, session_id) == before


async def test_chunked_body_over_the_limit_is_413(
    client: httpx.AsyncClient, session_id: str
) -> None:
    async def chunks():
        for _ in range(20):
            yield b"x" * 65536

    response = await client.post(f"/api/sessions/{session_id}/state", content=chunks())
    assert response.status_code == 413


@pytest.mark.parametrize(
    "query",
    [
        "status=sleeping",
        "limit=0",
        "limit=100000",
        "sort=name",
        "cursor=garbage",
        "state_path=a..b&state_value=1",
        "state_path=a",
        "state_value=1",
        "state_mode=sometimes&state_path=a&state_value=1",
        "created_after=notatime",
        "product=%00",
    ],
)
async def test_bad_list_query_is_422(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/api/sessions?{query}")
    assert response.status_code == 422, response.text
    assert "detail" in response.json()


@pytest.mark.parametrize(
    "query",
    [
        "",
        "name=",
        "name=m&aggregation=median",
        "name=m&limit=0",
        "name=a%00b",
        "name=m&state_path=x&state_value=%00",
    ],
)
async def test_bad_series_query_is_422(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/api/metrics/series?{query}")
    assert response.status_code == 422, response.text


async def test_unknown_route_and_method_are_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/nothing-here")
    assert missing.status_code == 404 and "detail" in missing.json()
    wrong = await client.delete("/api/sessions")
    assert wrong.status_code == 405 and "detail" in wrong.json()


async def test_body_that_is_not_utf8_is_422(client: httpx.AsyncClient, session_id: str) -> None:
    response = await client.post(
        f"/api/sessions/{session_id}/state",
        content=b"\x1e\xff\x00\x07{W",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
