"""Every endpoint's real answers match the OpenAPI document, on both backends.

The bodies are built by hand for speed (``api/render.py``, the database-built event JSON,
the streamed export), while ``/docs`` is generated from the models in ``api/schemas.py``;
this test holds the two together. It drives every documented operation with seeded,
varied data (nested state, events with and without data, metrics with list, dict and no
tags, ended, crashed and silent sessions) and checks each answer against the schema of
its status in ``/openapi.json`` — the status must be declared, and the body must match a
*strict* copy of the schema: every declared property present, no undeclared one. A
field added to a renderer but not to its model, or the reverse, fails here.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

from conftest import settings_for
from datacat.app import create_app
from support import async_throwaway_database
from support.schemas import strict

# Every documented operation must be driven at least once (a new endpoint fails until it is).
exercised: set[tuple[str, str]] = set()


class Contract:
    """The OpenAPI document's answer schemas, by operation and status."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.components = strict(document["components"])
        self.templates = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in document["paths"]
        ]

    def operation(self, method: str, url: str) -> tuple[str, dict[str, Any]]:
        path = httpx.URL(url).path
        matches = [t for rx, t in self.templates if rx.match(path)]
        # A literal segment beats a parameter (/api/metrics/names vs a {session_id}).
        template = min(matches, key=lambda t: t.count("{"))
        return template, self.document["paths"][template][method.lower()]

    def check(self, response: httpx.Response) -> Any:
        method = response.request.method
        template, operation = self.operation(method, str(response.request.url))
        exercised.add((method, template))
        status = str(response.status_code)
        declared = operation["responses"]
        assert status in declared, (
            f"{method} {template} answered {status}, which its schema does not declare "
            f"(declared: {sorted(declared)}): {response.text[:300]}"
        )
        content = declared[status].get("content", {}).get("application/json")
        if response.status_code == 304 or content is None:
            assert not response.content or content is None
            return None
        assert response.headers["content-type"].startswith("application/json")
        schema = {**strict(content["schema"]), "components": self.components}
        body = response.json()
        errors = [
            f"{'/'.join(map(str, e.instance_path))}: {e.message}"
            for e in jsonschema_rs.validator_for(schema).iter_errors(body)
        ]
        assert not errors, f"{method} {template} → {status} breaks its schema:\n" + "\n".join(
            errors[:10]
        )
        return body


@pytest.fixture(scope="module")
async def contract(client: httpx.AsyncClient) -> Contract:
    return Contract((await client.get("/openapi.json")).json())


@pytest.fixture(scope="module")
async def call(client: httpx.AsyncClient, contract: Contract) -> Any:
    async def send(method: str, url: str, **kwargs: Any) -> Any:
        return contract.check(await client.request(method, url, **kwargs))

    return send


@pytest.fixture(scope="module")
async def seeded(call: Any) -> dict[str, str]:
    """Sessions in every status, each holding the kinds of data a renderer must shape."""
    product = "shapes-product"
    ids: dict[str, str] = {}
    for name in ("rich", "ended", "crashed", "bare"):
        body = {
            "product": product,
            "version": "1.2",
            "host": "h",
            "metadata": {"team": {"name": "x"}, "n": 1},
            "heartbeat_timeout": 60.0,
        }
        created = await call("POST", "/api/sessions", json=body if name != "bare" else None)
        ids[name] = created["session_id"]
    rich = ids["rich"]
    await call("POST", f"/api/sessions/{rich}/state", json={"a": {"b": [1, "x", None]}, "z": 1.5})
    await call("POST", f"/api/sessions/{rich}/state", json={"a": {"c": True}})
    for event in (
        {"name": "started"},
        {"name": "data", "data": {"k": ["v", 1, 2.5, None]}},
        {"name": "scalar", "data": 5, "timestamp": "2026-01-02T03:04:05.123456Z", "id": "e1"},
        {"name": "exception", "data": {"type": "E", "message": "m", "traceback": ["l1\n"]}},
    ):
        await call("POST", f"/api/sessions/{rich}/events", json=event)
    for metric in (
        {"name": "cpu", "value": 1},
        {"name": "cpu", "value": 2.5, "tags": ["a", "b"]},
        {"name": "mem", "value": -0.0, "tags": {"k": "v"}, "id": "m1"},
    ):
        await call("POST", f"/api/sessions/{rich}/metrics", json=metric)
    await call("POST", f"/api/sessions/{rich}/heartbeat", json={"timeout": 30})
    await call("POST", f"/api/sessions/{rich}/heartbeat")
    await call("POST", f"/api/sessions/{ids['ended']}/end")
    await call("POST", f"/api/sessions/{ids['crashed']}/end", json={"status": "crashed"})
    ids["product"] = product
    return ids


def _reads(ids: dict[str, str]) -> Iterator[str]:
    rich, product = ids["rich"], ids["product"]
    yield "/healthz"
    yield "/readyz"
    yield f"/api/sessions?product={product}"
    yield f"/api/sessions?product={product}&limit=1&sort=last_seen_at"
    yield "/api/sessions?state_path=a.c&state_value=true&state_mode=current"
    yield "/api/sessions?status=crashed&active=false"
    for session in ("rich", "ended", "crashed", "bare"):
        yield f"/api/sessions/{ids[session]}"
    yield f"/api/sessions/{rich}/events"
    yield f"/api/sessions/{rich}/events?limit=1&name=data"
    yield f"/api/sessions/{rich}/metrics"
    yield f"/api/sessions/{rich}/metrics?limit=1"
    yield f"/api/sessions/{rich}/state/history"
    yield "/api/metrics/names"
    for aggregation in ("all", "peak", "avg", "min"):
        yield f"/api/metrics/series?name=cpu&aggregation={aggregation}&product={product}"
    yield "/api/metrics/series?name=cpu&state_path=a.b&state_value=x&state_mode=contains"
    yield f"/api/grafana/sessions?product={product}"
    yield f"/api/grafana/status_series?product={product}&from=0&to=4102444800000&bucket=1d"
    yield "/api/grafana/sessions?limit=2"


async def test_every_read_matches_its_documented_shape(call: Any, seeded: dict[str, str]) -> None:
    for url in _reads(seeded):
        await call("GET", url)


async def test_a_page_of_every_kind_is_checked_with_items(
    call: Any, seeded: dict[str, str]
) -> None:
    """The reads above are only worth something if the pages held items to check."""
    rich = seeded["rich"]
    assert len((await call("GET", f"/api/sessions/{rich}"))["events"]) == 4
    assert len((await call("GET", f"/api/sessions/{rich}/metrics"))["items"]) == 3
    assert len((await call("GET", f"/api/sessions/{rich}/state/history"))["items"]) == 2
    export = await call("GET", f"/api/grafana/sessions?product={seeded['product']}")
    assert {s["status"] for s in export} == {"active", "ended", "crashed"}
    series = await call("GET", f"/api/metrics/series?name=cpu&product={seeded['product']}")
    assert series["points_matched"] == 2


async def test_conditional_reads_answer_a_declared_304(
    client: httpx.AsyncClient, contract: Contract, seeded: dict[str, str]
) -> None:
    for url in (f"/api/sessions/{seeded['rich']}", "/api/grafana/sessions"):
        first = await client.get(url)
        again = await client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        contract.check(again)


async def test_batch_answers_match_their_shapes(call: Any, seeded: dict[str, str]) -> None:
    rich = seeded["rich"]
    items = [
        {"op": "state", "session_id": rich, "state": {"batch": 1}},
        {"op": "event", "session_id": rich, "name": "b", "id": "be1"},
        {"op": "metric", "session_id": rich, "name": "b", "value": 1, "id": "bm1"},
        {"op": "heartbeat", "session_id": rich},
    ]
    first = await call("POST", "/api/batch", json={"items": items})
    assert (first["accepted"], first["duplicates"]) == (4, 0)
    again = await call("POST", "/api/batch", json={"items": items})
    assert again["duplicates"] == 2
    missing = {"op": "event", "session_id": "no-such-session", "name": "x"}
    rejected = await call("POST", "/api/batch", json={"items": [missing]})
    assert rejected["detail"][0]["index"] == 0
    invalid = await call("POST", "/api/batch", json={"items": [{"op": "event"}]})
    assert invalid["detail"][0]["index"] == 0


async def test_errors_match_their_shapes(call: Any, seeded: dict[str, str]) -> None:
    rich = seeded["rich"]
    for method, url, kwargs in (
        ("GET", "/api/sessions/no-such-session", {}),
        ("GET", "/api/sessions/no-such-session/events", {}),
        ("GET", "/api/sessions/no-such-session/metrics", {}),
        ("GET", "/api/sessions/no-such-session/state/history", {}),
        ("POST", "/api/sessions/no-such-session/state", {"json": {"a": 1}}),
        ("POST", "/api/sessions/no-such-session/end", {}),
        ("POST", f"/api/sessions/{rich}/events", {"json": {"name": ""}}),
        ("POST", f"/api/sessions/{rich}/metrics", {"json": {"name": "m", "value": "x"}}),
        ("POST", f"/api/sessions/{rich}/heartbeat", {"json": {"timeout": -1}}),
        ("POST", f"/api/sessions/{rich}/state", {"content": b"[1]"}),
        ("POST", "/api/sessions", {"json": {"product": "a\x00"}}),
        ("GET", "/api/sessions?state_path=a", {}),
        ("GET", f"/api/sessions/{rich}/events?cursor=garbage", {}),
        ("GET", "/api/metrics/series?name=cpu&state_path=..&state_value=1", {}),
        ("GET", "/api/grafana/sessions?limit=0", {}),
        ("GET", "/api/grafana/status_series?bucket=2h", {}),
    ):
        body = await call(method, url, **kwargs)
        assert body["detail"], (method, url)


async def test_delete_answers_match_their_shapes(call: Any) -> None:
    doomed = (await call("POST", "/api/sessions"))["session_id"]
    assert await call("DELETE", f"/api/sessions/{doomed}") == {"status": "ok"}
    assert (await call("DELETE", f"/api/sessions/{doomed}"))["detail"]


async def test_release_answers_match_their_shapes(call: Any, seeded: dict[str, str]) -> None:
    releases = await call("GET", f"/api/releases?product={seeded['product']}&days=3")
    assert releases["items"] and releases["items"][0]["daily"]
    assert (await call("GET", "/api/releases?limit=1"))["items"]
    assert (await call("GET", "/api/releases?days=0"))["detail"]


async def test_issue_12_session_filters_match_their_shapes(
    call: Any, seeded: dict[str, str]
) -> None:
    product = seeded["product"]
    found = await call("GET", f"/api/sessions?product={product}&version=1.2&event=data&q=SCAL")
    assert [s["id"] for s in found["items"]] == [seeded["rich"]]
    await call("GET", f"/api/sessions?product={product}&ever_hung=false")
    assert (await call("GET", "/api/sessions?q="))["detail"]


@contextlib.asynccontextmanager
async def _own_client(backend: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An app on a database of its own: a key switches auth on for the whole database."""
    async with contextlib.AsyncExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"
        else:
            url = await stack.enter_async_context(async_throwaway_database("shapes_keys"))
        application = create_app(settings_for(url))
        await stack.enter_async_context(application.router.lifespan_context(application))
        transport = httpx.ASGITransport(app=application)
        yield await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://datacat")
        )


async def test_key_answers_match_their_shapes(
    contract: Contract, backend: str, tmp_path: Path
) -> None:
    async with _own_client(backend, tmp_path) as client:

        async def call(method: str, url: str, **kwargs: Any) -> Any:
            return contract.check(await client.request(method, url, **kwargs))

        made = await call("POST", "/api/keys", json={"scope": "admin", "name": "shapes"})
        admin = {"Authorization": f"Bearer {made['key']}"}
        assert made["scope"] == "admin" and made["key"].startswith(made["prefix"])
        read = await call("POST", "/api/keys", json={"scope": "read"}, headers=admin)
        listed = await call("GET", "/api/keys", headers=admin)
        assert [k["name"] for k in listed["items"]] == ["shapes", read["prefix"]]
        taken = {"scope": "read", "name": "shapes"}
        assert "exists" in (await call("POST", "/api/keys", json=taken, headers=admin))["detail"]
        assert (await call("POST", "/api/keys", json={"scope": "all"}, headers=admin))["detail"]
        assert (await call("GET", "/api/keys"))["detail"]  # 401
        reader = {"Authorization": f"Bearer {read['key']}"}
        assert (await call("GET", "/api/keys", headers=reader))["detail"]  # 403
        revoked = await call("DELETE", f"/api/keys/{read['prefix']}", headers=admin)
        assert revoked == {"status": "ok"}
        assert (await call("GET", "/api/sessions", headers=reader))["detail"]  # 401 at once
        assert (await call("DELETE", "/api/keys/nobody", headers=admin))["detail"]  # 404


async def test_series_statistics_of_issue_12_match_their_shapes(
    call: Any, seeded: dict[str, str]
) -> None:
    product = seeded["product"]
    for aggregation in ("sum", "count", "p50", "p90", "p95", "p99"):
        url = f"/api/metrics/series?name=cpu&aggregation={aggregation}&product={product}"
        assert (await call("GET", url))["points"]
        assert (await call("GET", f"{url}&bucket=auto"))["points"]
        assert (await call("GET", f"{url}&bucket=1m&group_by=version"))["groups"]
        assert (await call("GET", f"{url}&group_by=tag:gpu"))["groups"]
    assert (await call("GET", "/api/metrics/series?name=cpu&group_by=product"))["groups"]
    assert (await call("GET", "/api/metrics/series?name=cpu&bucket=1h"))["points"]
    assert (await call("GET", "/api/metrics/series?name=cpu&group_by=host"))["detail"]  # 422


async def test_event_search_of_issue_12_matches_its_shapes(
    call: Any, seeded: dict[str, str]
) -> None:
    product = seeded["product"]
    found = await call("GET", f"/api/events?product={product}&version=1.2&limit=2")
    assert found["items"] and found["next_cursor"]
    await call("GET", f"/api/events?product={product}&cursor={found['next_cursor']}")
    assert (await call("GET", "/api/events?q=SCAL&level=info&name=scalar"))["items"]
    assert (await call("GET", "/api/events?since=2026-01-01T00:00:00Z&until=2026-01-03T00:00:00Z"))[
        "items"
    ]
    assert (await call("GET", "/api/events?level=fatal"))["detail"]  # 422
    assert (await call("GET", "/api/events?cursor=1"))["detail"]  # 422


async def test_exception_groups_match_their_shapes(call: Any, seeded: dict[str, str]) -> None:
    product = seeded["product"]
    found = await call("GET", f"/api/exceptions?product={product}&version=1.2&limit=1")
    assert found["items"]
    await call("GET", "/api/exceptions?sort=frequent&fatal=false&since=2026-01-01T00:00:00Z")
    fingerprint = found["items"][0]["fingerprint"]
    detail = await call("GET", f"/api/exceptions/{fingerprint}?limit=1")
    assert detail["traceback"] and detail["items"]
    assert (await call("GET", f"/api/exceptions/{'0' * 32}"))["detail"]  # 404
    assert (await call("GET", "/api/exceptions?sort=oldest"))["detail"]  # 422
    assert (await call("GET", "/api/exceptions/nothex"))["detail"]  # 422


async def test_integration_answers_match_their_shapes(call: Any) -> None:
    """OTLP/HTTP in JSON (its protobuf twin is tests/test_otlp.py's) and the Prometheus page."""
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "shapes-otlp"}}]}
    record = {
        "timeUnixNano": "1732815730000000000",
        "severityNumber": 13,
        "body": {"stringValue": "m"},
    }
    logs = {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": [record]}]}]}
    assert await call("POST", "/v1/logs", json=logs) == {}
    assert await call("POST", "/v1/metrics", json={"resourceMetrics": []}) == {}
    bad = {"content": b"{not json", "headers": {"content-type": "application/json"}}
    assert await call("POST", "/v1/logs", **bad)
    assert await call("GET", "/-/metrics") is None  # text, not JSON


def test_every_documented_operation_was_exercised(contract: Contract) -> None:
    """Runs after the tests above (file order); both backends add to one set."""
    documented = {
        (method.upper(), path)
        for path, operations in contract.document["paths"].items()
        for method in operations
    }
    assert documented - exercised == set(), "operations no test above drives"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "n", "value": 1.0, "tags": {"k": {"deep": [1, None]}}},
        {"name": "n", "value": 2, "tags": None},
    ],
)
async def test_metric_tags_of_every_documented_kind_are_answered_as_documented(
    call: Any, seeded: dict[str, str], body: dict[str, Any]
) -> None:
    session = seeded["bare"]
    await call("POST", f"/api/sessions/{session}/metrics", json=body)
    items = (await call("GET", f"/api/sessions/{session}/metrics?name=n"))["items"]
    assert items[-1]["tags"] == body["tags"]


def test_the_strict_copy_rejects_what_the_real_schema_allows() -> None:
    """The checker itself: an undeclared field and a missing one are both caught."""
    schema = strict(
        {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}}
    )
    validator = jsonschema_rs.validator_for(copy.deepcopy(schema))
    assert validator.is_valid({"a": 1, "b": "x"})
    assert not validator.is_valid({"a": 1})
    assert not validator.is_valid({"a": 1, "b": "x", "c": 2})
