"""``/docs`` shows a worked example for every operation, and every example is true.

The examples are written by hand (``datacat.api.examples``), so they can drift from the
models and from what the server accepts. Here each answer example must validate against a
*strict* copy of its documented schema (every property present, none undeclared), each
request example against its body schema, and each request example, sent to the real app on
both backends, must be accepted and stored.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import jsonschema_rs
import pytest

from datacat.api.examples import SESSION
from datacat.app import create_app
from datacat.settings import Settings
from support.schemas import strict

# Creating a key turns auth on for the whole (shared) test database; test_auth.py sends
# this request for real against a database of its own.
NOT_SENT = {("POST", "/api/keys")}


def _document() -> dict[str, Any]:
    return create_app(Settings(database_url="sqlite+aiosqlite:///unused.db")).openapi()


DOCUMENT = _document()


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in DOCUMENT["paths"].items()
        if path.startswith("/api/")
        for method, operation in operations.items()
    ]


def _examples(content: dict[str, Any]) -> dict[str, Any]:
    """Named examples of a media type, or the examples of the model it refers to."""
    if content.get("examples"):
        return {name: item["value"] for name, item in content["examples"].items()}
    ref = content.get("schema", {}).get("$ref", "")
    model = DOCUMENT["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return {f"model-{i}": value for i, value in enumerate(model.get("examples", []))}


def _validator(schema: dict[str, Any], closed: bool) -> jsonschema_rs.Draft202012Validator:
    components = strict(DOCUMENT["components"]) if closed else DOCUMENT["components"]
    body = strict(schema) if closed else copy.deepcopy(schema)
    return jsonschema_rs.Draft202012Validator({**body, "components": components})


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    _operations(),
    ids=[f"{method} {path}" for method, path, _ in _operations()],
)
def test_every_operation_has_true_examples(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    request = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if request is not None:
        examples = _examples(request)
        assert examples, f"{method} {path}: no request example in /docs"
        check = _validator(request["schema"], closed=False)
        for name, value in examples.items():
            errors = [e.message for e in check.iter_errors(value)]
            assert not errors, f"{method} {path} request example {name!r}: {errors}"
    answer = operation["responses"]["200"].get("content", {}).get("application/json")
    assert answer is not None, f"{method} {path}: no JSON answer documented"
    examples = _examples(answer)
    assert examples, f"{method} {path}: no answer example in /docs"
    check = _validator(answer["schema"], closed=True)
    for name, value in examples.items():
        errors = [e.message for e in check.iter_errors(value)]
        assert not errors, f"{method} {path} answer example {name!r}: {errors}"


def _request_examples() -> list[tuple[str, str, str, Any]]:
    found = []
    for method, path, operation in _operations():
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None or (method, path) in NOT_SENT:
            continue
        found += [(method, path, name, value) for name, value in _examples(content).items()]
    return found


@pytest.mark.parametrize(
    ("method", "path", "name", "example"),
    _request_examples(),
    ids=lambda v: v if isinstance(v, str) else "",
)
async def test_request_examples_are_accepted(
    client: httpx.AsyncClient, method: str, path: str, name: str, example: Any
) -> None:
    created = await client.post("/api/sessions")
    session = created.json()["session_id"]
    body = json.loads(json.dumps(example).replace(SESSION, session))
    response = await client.request(method, path.replace("{session_id}", session), json=body)
    assert response.status_code == 200, f"{method} {path} example {name!r}: {response.text}"
    if path.startswith("/api/sessions/{session_id}/") or path == "/api/batch":
        stored = (await client.get(f"/api/sessions/{session}")).json()
        assert stored["updated_at"] > stored["created_at"], "the example changed nothing"
