"""Routes whose JSON bodies are parsed by orjson.

Parsing is the largest single cost of a batch request with the standard library's
decoder. orjson also refuses ``NaN``/``Infinity`` (not JSON), so non-finite numbers never
reach validation. Integers beyond 64 bits, which orjson refuses, fall back to the standard
decoder so no valid JSON is turned away.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)


def loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise exc from None  # not UTF-8, so not JSON: a 422 like any other bad JSON
        return json.loads(text, parse_constant=_reject_constant)


class _FastJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class FastJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def fast_json_handler(request: Request) -> Response:
            return await handler(_FastJsonRequest(request.scope, request.receive))

        return fast_json_handler
