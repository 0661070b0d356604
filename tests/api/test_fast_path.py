"""The fast path answers exactly as the FastAPI routes it stands in for.

The routes in ``api/sessions.py`` and ``api/batch.py`` are the documented contract; the
fast path (``api/fastpath.py``) serves the same requests beneath FastAPI. Here both apps
run on one database and every request — good, malformed, oversized, unknown — goes to
each: status, body and content type must be the same.
"""

from __future__ import annotations

import httpx
import orjson
import pytest
from test_validation import BAD_BODIES

from datacat.api.fastpath import route

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


async def both(
    fast: httpx.AsyncClient, plain: httpx.AsyncClient, method: str, url: str, body: bytes | None
) -> tuple[httpx.Response, httpx.Response]:
    headers = {"content-type": "application/json"} if body is not None else {}
    answers = []
    for http in (fast, plain):
        answers.append(await http.request(method, url, content=body, headers=headers))
    return answers[0], answers[1]


def same(fast: httpx.Response, plain: httpx.Response) -> None:
    assert fast.status_code == plain.status_code, (fast.text, plain.text)
    assert fast.headers["content-type"] == plain.headers["content-type"]
    assert fast.json() == plain.json()


def test_the_fast_routes_are_the_hot_ones() -> None:
    assert route("POST", "/api/sessions") is not None
    assert route("POST", "/api/batch") is not None
    assert route("POST", "/api/sessions/abc/events") is not None
    assert route("GET", "/api/sessions/abc") is not None
    # Anything else is FastAPI's: listings, redirects for trailing slashes, other verbs.
    assert route("GET", "/api/sessions") is None
    assert route("POST", "/api/sessions/") is None
    assert route("POST", "/api/sessions//events") is None
    assert route("POST", "/api/sessions/abc/nothing") is None
    assert route("PUT", "/api/sessions/abc/events") is None
    assert route("GET", "/api/sessions/abc/events") is None


@pytest.mark.parametrize(("path", "raw", "field"), BAD_BODIES)
async def test_bad_bodies_are_refused_alike(
    client: httpx.AsyncClient,
    plain: httpx.AsyncClient,
    session_id: str,
    path: str,
    raw: bytes,
    field: str,
) -> None:
    fast, slow = await both(client, plain, "POST", f"/api/sessions/{session_id}/{path}", raw)
    assert fast.status_code == 422
    same(fast, slow)


ODD_BODIES = [
    None,
    b"",
    b"null",
    b"[]",
    b"5",
    b'"x"',
    b"{",
    b"\xff\xfe",
    b'{"name": "m", "value": NaN}',
    b'{"name": "ok", "value": 1.5, "tags": ["a"], "timestamp": "2026-01-01T00:00:00Z"}',
    b'{"name": "ok", "data": {"nested": [1, {"a": null}]}, "id": "c1"}',
    b'{"status": "crashed"}',
    b'{"timeout": 30}',
    b'{"big": 123456789012345678901234567890}',
    b'{"a": {"b": 1}}',
    # Over the default limits (datacat.limits): a 422 naming the limit, the same on both.
    orjson.dumps({"name": "n" * 257, "value": 1}),
    orjson.dumps({"name": "m", "value": 1, "tags": ["t"] * 65, "data": nested(33)}),
    orjson.dumps({"name": "e", "value": 1, "data": {f"k{i}": i for i in range(1001)}}),
]


@pytest.mark.parametrize("path", ["state", "events", "metrics", "heartbeat", "end"])
@pytest.mark.parametrize("raw", ODD_BODIES)
async def test_writes_answer_alike(
    client: httpx.AsyncClient,
    plain: httpx.AsyncClient,
    session_id: str,
    path: str,
    raw: bytes | None,
) -> None:
    fast, slow = await both(client, plain, "POST", f"/api/sessions/{session_id}/{path}", raw)
    same(fast, slow)
    fast, slow = await both(client, plain, "POST", f"/api/sessions/{UNKNOWN}/{path}", raw)
    same(fast, slow)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"",
        b"null",
        b"[]",
        b'{"product": "p", "version": "1.0", "host": "h", "metadata": {"k": 1}}',
        b'{"heartbeat_timeout": 0}',
        b'{"metadata": [1]}',
        b'{"product": 5}',
        b"{",
        orjson.dumps({"metadata": nested(33)}),
    ],
)
async def test_session_create_answers_alike(
    client: httpx.AsyncClient, plain: httpx.AsyncClient, raw: bytes | None
) -> None:
    fast, slow = await both(client, plain, "POST", "/api/sessions", raw)
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    if fast.status_code == 200:
        assert fast.json().keys() == slow.json().keys() == {"session_id"}
    else:
        same(fast, slow)


async def test_batches_answer_alike(
    client: httpx.AsyncClient, plain: httpx.AsyncClient, session_id: str
) -> None:
    item = {"op": "event", "session_id": session_id, "name": "e"}
    # Client ids make answers depend on what is stored: each app gets its own.
    for own in ("fast", "plain"):
        repeated = {"items": [item, {**item, "id": own}, {**item, "id": own}]}
        answer = await (client if own == "fast" else plain).post("/api/batch", json=repeated)
        assert answer.json() == {"status": "ok", "accepted": 2, "duplicates": 1}
    bodies = [
        {"items": [item, {"op": "event", "session_id": UNKNOWN, "name": "e"}]},
        {"items": [item, {"op": "nope", "session_id": session_id}]},
        {"items": [{"op": "metric", "session_id": session_id, "name": "m", "value": "x"}]},
        {"items": [item] * 5001},
        {"items": [item, {**item, "name": "n" * 257}, {**item, "data": nested(33)}]},
        {"items": "no"},
        {},
        [],
    ]
    for body in bodies:
        fast, slow = await both(client, plain, "POST", "/api/batch", orjson.dumps(body))
        same(fast, slow)
    fast, slow = await both(client, plain, "POST", "/api/batch", b"")
    same(fast, slow)


async def test_session_reads_answer_alike(
    client: httpx.AsyncClient, plain: httpx.AsyncClient, session_id: str
) -> None:
    await client.post(f"/api/sessions/{session_id}/events", json={"name": "e", "data": [1]})
    await client.post(f"/api/sessions/{session_id}/metrics", json={"name": "m", "value": 0.1})
    fast, slow = await both(client, plain, "GET", f"/api/sessions/{session_id}", None)
    same(fast, slow)
    assert fast.headers["etag"] == slow.headers["etag"]
    for unknown in (UNKNOWN, "x" * 65):
        fast, slow = await both(client, plain, "GET", f"/api/sessions/{unknown}", None)
        same(fast, slow)
