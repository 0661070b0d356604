"""Every answer leaves through one layer, ``observability.Observe``, whichever layer gave it.

The fast path, FastAPI, a page, a 404, the ingress's 413, Starlette's 500, CORS's
preflight and the auth's 401 each carry ``X-Request-ID`` and the security headers, each
exactly once, with the policy for an API answer or a page; a route that sends its own
policy (``/redoc``) keeps it. In-process: the layers are the subject, not the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from datacat.app import create_app
from datacat.security import API_POLICY, PAGE_POLICY
from datacat.settings import Settings

ORIGIN = "http://allowed.example:3000"
PREFLIGHT = {
    "origin": ORIGIN,
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type",
}


@asynccontextmanager
async def serving(tmp_path: Path, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'layers.db'}"
    application = create_app(Settings(database_url=url, cors_origins=ORIGIN, **settings))

    async def boom() -> None:
        raise RuntimeError("boom")

    application.add_api_route("/boom", boom)
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=transport, base_url="http://datacat") as client,
    ):
        yield client


def once(answer: httpx.Response, name: str) -> str:
    values = answer.headers.get_list(name)
    assert len(values) == 1, f"{answer.request.url}: {name} {values}"
    return values[0]


def assert_marked(answer: httpx.Response, status: int, policy: str) -> str:
    """``answer`` has ``status``, the security headers once each, and a request id."""
    assert answer.status_code == status, answer.text
    assert once(answer, "content-security-policy") == policy
    assert once(answer, "x-content-type-options") == "nosniff"
    assert once(answer, "referrer-policy") == "same-origin"
    return once(answer, "x-request-id")


async def test_every_kind_of_answer_carries_the_id_and_the_headers_once(tmp_path: Path) -> None:
    async with serving(tmp_path) as client:
        created = await client.post("/api/sessions")  # no body: the fast path, a 200
        assert_marked(created, 200, API_POLICY)
        events = f"/api/sessions/{created.json()['session_id']}/events"
        sent = await client.post(events, json={"name": "e"}, headers={"X-Request-ID": "mine"})
        assert assert_marked(sent, 200, API_POLICY) == "mine"
        assert_marked(await client.post(events, json={}), 422, API_POLICY)
        missing = await client.post("/api/sessions/nope/events", json={"name": "e"})
        assert_marked(missing, 404, API_POLICY)
        assert_marked(await client.get("/api/sessions"), 200, API_POLICY)  # FastAPI
        assert_marked(await client.get("/healthz"), 200, PAGE_POLICY)
        assert_marked(await client.get("/no/such/page"), 404, PAGE_POLICY)
        too_big = await client.post(events, content=b"{" + b" " * (2 << 20) + b"}")
        assert_marked(too_big, 413, API_POLICY)
        assert_marked(await client.get("/boom"), 500, PAGE_POLICY)
        preflight = await client.options("/api/sessions", headers=PREFLIGHT)
        assert_marked(preflight, 200, API_POLICY)
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        ids = {(await client.get("/healthz")).headers["x-request-id"] for _ in range(3)}
        assert len(ids) == 3, "a fresh id per request"


async def test_a_route_that_sends_its_own_policy_keeps_it(tmp_path: Path) -> None:
    async with serving(tmp_path) as client:
        redoc = await client.get("/redoc")
        assert redoc.status_code == 200
        policy = once(redoc, "content-security-policy")
        assert "'nonce-" in policy and policy != PAGE_POLICY
        assert once(redoc, "x-content-type-options") == "nosniff"
        assert once(redoc, "referrer-policy") == "same-origin"
        assert once(redoc, "x-request-id")


async def test_a_refusal_before_anything_reads_the_body_is_marked_too(tmp_path: Path) -> None:
    async with serving(tmp_path, require_auth=True) as client:
        refused = await client.post("/api/sessions", headers={"origin": ORIGIN})
        assert_marked(refused, 401, API_POLICY)
        assert refused.headers["access-control-allow-origin"] == ORIGIN
        assert "x-request-id" in refused.headers["access-control-expose-headers"].lower()
        assert_marked(await client.options("/api/sessions", headers=PREFLIGHT), 200, API_POLICY)
