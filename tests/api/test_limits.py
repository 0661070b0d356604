"""Every limit on what one request may carry: at the limit accepted, one over refused.

Each limit is driven on both serving paths (the fast path and plain FastAPI) with the
default settings and with small ones, so a moved setting moves the limit; on SQLite and
PostgreSQL, since PostgreSQL is where an over-long name used to fail (its ``String(256)``
columns). A refusal must be a 422 (413 for a body's size) whose detail names the limit's
setting, and must leave nothing written.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from datacat.app import create_app
from datacat.limits import Limits
from datacat.settings import Settings
from support import async_throwaway_database

SMALL: dict[str, Any] = {
    "max_state_depth": 3,
    "max_object_keys": 4,
    "max_metric_tags": 2,
    "max_name_length": 8,
    "max_batch_items": 3,
    "max_body_bytes": 2048,
    "max_batch_bytes": 4096,
}


@dataclass
class Service:
    http: httpx.AsyncClient
    settings: Settings

    @property
    def limits(self) -> Limits:
        return Limits.from_settings(self.settings)

    async def new_session(self) -> str:
        response = await self.http.post("/api/sessions")
        assert response.status_code == 200, response.text
        return str(response.json()["session_id"])

    async def stored(self, session_id: str) -> dict[str, Any]:
        """Everything a write could have changed about a session."""
        body = (await self.http.get(f"/api/sessions/{session_id}")).json()
        history = (await self.http.get(f"/api/sessions/{session_id}/state/history")).json()
        return {k: body[k] for k in ("state", "events", "metrics")} | {"history": history["items"]}


@pytest.fixture(scope="module")
async def database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A database of this module's own: no other test's keys or sessions in it."""
    if backend == "sqlite":
        path: Path = tmp_path_factory.mktemp("limits") / "limits.db"
        yield f"sqlite+aiosqlite:///{path}"
        return
    async with async_throwaway_database("datacat_limits") as url:
        yield url


@pytest.fixture(scope="module")
async def services(database: str) -> AsyncIterator[dict[str, Service]]:
    """Four apps on one database: fast path or not, default or small limits."""
    found: dict[str, Service] = {}
    async with contextlib.AsyncExitStack() as stack:
        for profile, overrides in (("default", {}), ("small", SMALL)):
            settings = Settings(database_url=database, **overrides)
            for serving in ("fast", "plain"):
                app = create_app(settings, fast_path=serving == "fast")
                await stack.enter_async_context(app.router.lifespan_context(app))
                http = await stack.enter_async_context(
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app), base_url="http://datacat"
                    )
                )
                found[f"{serving}-{profile}"] = Service(http, settings)
        yield found


@pytest.fixture(params=["fast-default", "plain-default", "fast-small", "plain-small"])
def service(request: pytest.FixtureRequest, services: dict[str, Service]) -> Service:
    return services[request.param]


def objects(depth: int) -> dict[str, Any]:
    """``depth`` objects, each inside the last."""
    value: dict[str, Any] = {"leaf": 0}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def arrays(depth: int) -> list[Any]:
    value: list[Any] = [0]
    for _ in range(depth - 1):
        value = [value, "x"]
    return value


def keyed(count: int) -> dict[str, int]:
    return {f"k{i}": i for i in range(count)}


@dataclass(frozen=True)
class Case:
    """One limit on one endpoint: ``body(n)`` is a body whose measure is ``n``."""

    setting: str
    endpoint: str
    body: Callable[[int], Any]
    loc: list[str]


CASES = {
    "state depth": Case("max_state_depth", "state", objects, ["body"]),
    "event data depth (arrays)": Case(
        "max_state_depth", "events", lambda n: {"name": "e", "data": arrays(n)}, ["body", "data"]
    ),
    "metric tags depth": Case(
        "max_state_depth",
        "metrics",
        lambda n: {"name": "m", "value": 1, "tags": {"t": objects(n - 1)}},
        ["body", "tags"],
    ),
    "state keys": Case("max_object_keys", "state", keyed, ["body"]),
    "event data keys, nested": Case(
        "max_object_keys",
        "events",
        lambda n: {"name": "e", "data": {"list": [1, keyed(n)]}},
        ["body", "data"],
    ),
    "metric tags (list)": Case(
        "max_metric_tags",
        "metrics",
        lambda n: {"name": "m", "value": 1, "tags": [f"t{i}" for i in range(n)]},
        ["body", "tags"],
    ),
    "metric tags (object)": Case(
        "max_metric_tags",
        "metrics",
        lambda n: {"name": "m", "value": 1, "tags": keyed(n)},
        ["body", "tags"],
    ),
    "event name": Case("max_name_length", "events", lambda n: {"name": "n" * n}, ["body", "name"]),
    # Outside the Basic Multilingual Plane: one character, but two UTF-16 units and four
    # UTF-8 bytes; PostgreSQL's varchar(256) counts characters, as the limit does.
    "metric name (astral)": Case(
        "max_name_length", "metrics", lambda n: {"name": "😀" * n, "value": 1}, ["body", "name"]
    ),
}


def setting_of(case: Case, service: Service) -> int:
    value = getattr(service.settings, case.setting)
    assert isinstance(value, int)
    return value


def names_limit(response: httpx.Response, setting: str, value: int) -> dict[str, Any]:
    """The one error of a refused request, which must name the setting and its variable."""
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert f"{setting}={value}" in error["msg"], error
    assert f"DATACAT_{setting.upper()}" in error["msg"], error
    return dict(error)


@pytest.mark.parametrize("name", list(CASES))
async def test_at_the_limit_accepted_one_over_refused(service: Service, name: str) -> None:
    case = CASES[name]
    limit = setting_of(case, service)
    session_id = await service.new_session()
    url = f"/api/sessions/{session_id}/{case.endpoint}"

    before = await service.stored(session_id)
    over = await service.http.post(url, json=case.body(limit + 1))
    error = names_limit(over, case.setting, limit)
    assert error["loc"] == case.loc
    assert await service.stored(session_id) == before

    at = await service.http.post(url, json=case.body(limit))
    assert at.status_code == 200, at.text
    assert await service.stored(session_id) != before


async def test_session_metadata_is_limited_and_a_refused_session_is_not_created(
    service: Service,
) -> None:
    product = f"limits-{uuid.uuid4().hex[:8]}"
    depth = service.settings.max_state_depth
    for metadata in (objects(depth + 1), keyed(service.settings.max_object_keys + 1)):
        over = await service.http.post(
            "/api/sessions", json={"product": product, "metadata": metadata}
        )
        assert over.status_code == 422, over.text
        assert over.json()["detail"][0]["loc"] == ["body", "metadata"]
    listed = await service.http.get("/api/sessions", params={"product": product})
    assert listed.json()["items"] == []
    at = await service.http.post(
        "/api/sessions", json={"product": product, "metadata": objects(depth)}
    )
    assert at.status_code == 200, at.text
    listed = await service.http.get("/api/sessions", params={"product": product})
    assert [s["metadata"] for s in listed.json()["items"]] == [objects(depth)]


async def test_batch_items_at_the_limit_accepted_one_over_refused(service: Service) -> None:
    limit = service.settings.max_batch_items
    session_id = await service.new_session()
    before = await service.stored(session_id)

    def events(count: int) -> dict[str, Any]:
        return {"items": [{"op": "event", "session_id": session_id, "name": "b"}] * count}

    over = await service.http.post("/api/batch", json=events(limit + 1))
    assert over.status_code == 422, over.text
    detail = over.json()["detail"]
    assert isinstance(detail, str)  # not per item: the client splits such a batch in halves
    assert f"max_batch_items={limit}" in detail and "DATACAT_MAX_BATCH_ITEMS" in detail
    assert await service.stored(session_id) == before

    at = await service.http.post("/api/batch", json=events(limit))
    assert at.status_code == 200, at.text
    assert at.json()["accepted"] == limit


async def test_a_batch_item_over_a_limit_is_named_by_index_and_nothing_is_written(
    service: Service,
) -> None:
    limits = service.settings
    session_id = await service.new_session()
    before = await service.stored(session_id)
    items: list[dict[str, Any]] = [
        {"op": "event", "session_id": session_id, "name": "fine"},
        {"op": "state", "session_id": session_id, "state": objects(limits.max_state_depth + 1)},
        {"op": "metric", "session_id": session_id, "name": "m", "value": 1},
    ]
    long_name = {"op": "metric", "session_id": session_id, "value": 2}
    long_name["name"] = "x" * (limits.max_name_length + 1)
    items = [*items[: limits.max_batch_items - 1], long_name]
    answer = await service.http.post("/api/batch", json={"items": items})
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    last = len(items) - 1
    assert [(e["index"], e["loc"]) for e in detail] == [
        (1, ["body", "items", 1, "state"]),
        (last, ["body", "items", last, "name"]),
    ]
    assert "max_state_depth" in detail[0]["msg"] and "max_name_length" in detail[1]["msg"]
    assert await service.stored(session_id) == before


def sized(size: int, prefix: bytes, suffix: bytes) -> bytes:
    """A JSON body of exactly ``size`` bytes: padding in a string between the two parts."""
    body = prefix + b"p" * (size - len(prefix) - len(suffix)) + suffix
    assert len(body) == size
    return body


@pytest.mark.parametrize("endpoint", ["events", "batch"])
async def test_body_size_at_the_limit_accepted_one_over_413(
    service: Service, endpoint: str
) -> None:
    session_id = await service.new_session()
    if endpoint == "events":
        url, limit = f"/api/sessions/{session_id}/events", service.settings.max_body_bytes
        setting = "DATACAT_MAX_BODY_BYTES"
        prefix, suffix = b'{"name": "big", "data": "', b'"}'
    else:
        url, limit = "/api/batch", service.settings.max_batch_bytes
        setting = "DATACAT_MAX_BATCH_BYTES"
        prefix = orjson.dumps({"items": [{"op": "event", "session_id": session_id}]})[:-3]
        prefix += b', "name": "big", "data": "'
        suffix = b'"}]}'
    before = await service.stored(session_id)
    headers = {"content-type": "application/json"}

    over = await service.http.post(url, content=sized(limit + 1, prefix, suffix), headers=headers)
    assert over.status_code == 413, over.text
    assert str(limit) in over.json()["detail"] and setting in over.json()["detail"]
    assert await service.stored(session_id) == before

    at = await service.http.post(url, content=sized(limit, prefix, suffix), headers=headers)
    assert at.status_code == 200, at.text
    (event,) = (await service.stored(session_id))["events"]
    assert event == {**event, "name": "big", "data": "p" * (limit - len(prefix) - len(suffix))}


async def test_the_default_limits_are_the_documented_ones() -> None:
    assert Limits.from_settings(Settings()) == Limits(
        max_state_depth=32,
        max_object_keys=1000,
        max_metric_tags=64,
        max_name_length=256,
        max_batch_items=5000,
    )


def test_a_name_limit_beyond_the_column_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="max_name_length"):
        Settings(max_name_length=257)
