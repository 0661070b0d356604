"""A method a path does not serve: 405 with ``Allow`` naming every method it does serve.

Starlette's own 405 named only the first route whose path matched, so ``OPTIONS
/api/sessions`` answered ``Allow: POST`` although ``GET`` is served there too (found by
schemathesis' ``unsupported_method`` check).
"""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/api/sessions", "GET, POST"),
        ("DELETE", "/api/sessions", "GET, POST"),
        ("PUT", "/api/sessions/some-id/events", "GET, POST"),
        ("PATCH", "/api/sessions/some-id/metrics", "GET, POST"),
        ("PUT", "/api/sessions/some-id", "GET, DELETE"),
        ("GET", "/api/sessions/some-id/state", "POST"),
        ("GET", "/api/batch", "POST"),
        ("POST", "/api/metrics/names", "GET"),
        ("POST", "/sessions", "GET"),
    ],
)
async def test_a_405_allows_every_method_the_path_serves(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json() == {"detail": "Method Not Allowed"}
