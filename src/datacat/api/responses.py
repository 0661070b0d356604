"""Responses serialised with orjson and written as they are (no response-model pass).

Each route still declares its ``response_model`` so ``/docs`` documents the shape.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response, StreamingResponse

from datacat.api.documents import Document

_OK = b'{"status":"ok"}'


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
