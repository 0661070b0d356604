"""Session objects as the seed served them — one session, or all of them for Grafana —
streamed from JSON the database built, with an ETag so an unchanged one costs nothing.

Both the FastAPI routes and the fast path answer through these functions.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from datacat.api import render
from datacat.store.repository import Repository, SessionFilter


@dataclass(frozen=True, slots=True)
class Document:
    etag: str
    body: AsyncIterator[bytes] | None
    """None when the client's ``If-None-Match`` already names this version (a 304)."""


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags


async def session(repo: Repository, session_id: str, if_none_match: str | None) -> Document:
    """Raises ``SessionNotFound``. The version is the session's last write time and its
    last event and metric ids: every write to a session moves at least one of them."""
    snapshot = await repo.session_snapshot(session_id)
    etag = '"s{:x}-{:x}-{:x}"'.format(
        snapshot["updated_us"], snapshot["event_upto"], snapshot["metric_upto"]
    )
    if _matches(if_none_match, etag):
        return Document(etag, None)

    async def pieces() -> AsyncIterator[tuple[str, object]]:
        yield "session", snapshot
        async for piece in repo.session_document(snapshot):
            yield piece

    return Document(etag, render.session_objects(pieces()))


async def export(
    repo: Repository, filters: SessionFilter, limit: int | None, if_none_match: str | None
) -> Document:
    """The whole export's version is the database's (newest activity, session count, last
    event and metric ids) together with the query that selects from it."""
    updated, count, last_event, last_metric = await repo.export_version()
    query = hashlib.sha256(repr((filters, limit)).encode()).hexdigest()[:16]
    etag = f'"e{updated:x}-{count:x}-{last_event:x}-{last_metric:x}-{query}"'
    if _matches(if_none_match, etag):
        return Document(etag, None)

    async def body() -> AsyncIterator[bytes]:
        yield b"["
        async for chunk in render.session_objects(
            repo.export_sessions(filters, limit, upto=(last_event, last_metric))
        ):
            yield chunk
        yield b"]"

    return Document(etag, body())
