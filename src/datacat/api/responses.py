"""Responses serialised with orjson and written as they are (no response-model pass).

Each route still declares its ``response_model`` so ``/docs`` documents the shape.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response, StreamingResponse

from datacat.api.documents import Document
from datacat.api.schemas import ErrorBody

_OK = b'{"status":"ok"}'

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Whole seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
API_ERRORS: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorBody,
        "description": "Over DATACAT_RATE_LIMIT_PER_S (when set); retry after Retry-After",
        "headers": _RETRY_AFTER,
    },
    503: {
        "model": ErrorBody,
        "description": "Database unavailable (locked, full, unreachable); retry after Retry-After",
        "headers": _RETRY_AFTER,
    },
}
"""What any ``/api`` operation may answer, whatever its route: declared once, in ``create_app``."""


def json_response(body: Any) -> Response:
    return Response(content=orjson.dumps(body), media_type="application/json")


def ok() -> Response:
    """The seed's ``{"status": "ok"}`` — what every write endpoint answers."""
    return Response(content=_OK, media_type="application/json")


def document_response(document: Document) -> Response:
    """A streamed session document, or 304 when the client's copy is current."""
    headers = {"ETag": document.etag}
    if document.body is None:
        return Response(status_code=304, headers=headers)
    return StreamingResponse(document.body, media_type="application/json", headers=headers)
