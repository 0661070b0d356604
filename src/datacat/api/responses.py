"""Responses serialised with orjson and written as they are (no response-model pass).

Each route still declares its ``response_model`` so ``/docs`` documents the shape.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response

_OK = b'{"status":"ok"}'


def json_response(body: Any) -> Response:
    return Response(content=orjson.dumps(body), media_type="application/json")


def ok() -> Response:
    """The seed's ``{"status": "ok"}`` — what every write endpoint answers."""
    return Response(content=_OK, media_type="application/json")
