"""API keys over HTTP, for the admin scope: what ``datacat keys`` does, from a program.

Every change reloads this process's copy of the keys at once; other processes see it
within a second (``datacat.auth``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request

from datacat.api.deps import Repo
from datacat.api.responses import json_response, ok
from datacat.api.routing import FastJsonRoute
from datacat.api.schemas import ErrorBody, KeyCreate, KeyCreated, KeyList, StatusOK
from datacat.auth import Access
from datacat.store.keys import KeyConflict, prefix_of
from datacat.timefmt import maybe_rfc3339, to_rfc3339

router = APIRouter(prefix="/api/keys", tags=["keys"], route_class=FastJsonRoute)

INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "Body or parameters invalid; `detail` names the field"}
}
UNKNOWN: dict[int | str, dict[str, Any]] = {
    **INVALID,
    404: {"model": ErrorBody, "description": "No active key with that prefix or name"},
}
TAKEN: dict[int | str, dict[str, Any]] = {
    **INVALID,
    409: {"model": ErrorBody, "description": "A key with that name exists already"},
}


def _access(request: Request) -> Access:
    access: Access = request.app.state.access
    return access


@router.get("", response_model=KeyList)
async def list_keys(repo: Repo) -> Any:
    """Every key, revoked ones too; never the keys themselves."""
    keys = await repo.keys.list()
    return json_response(
        {
            "items": [
                {
                    "prefix": key.prefix,
                    "name": key.name,
                    "scope": key.scope,
                    "created_at": to_rfc3339(key.created_us),
                    "last_used_at": maybe_rfc3339(key.last_used_us),
                    "revoked_at": maybe_rfc3339(key.revoked_us),
                }
                for key in keys
            ]
        }
    )


@router.post("", response_model=KeyCreated, responses=TAKEN)
async def create_key(body: KeyCreate, repo: Repo, request: Request) -> Any:
    """A new key, shown in this answer only. The first key switches auth on."""
    try:
        token = await repo.keys.create(body.scope, name=body.name)
    except KeyConflict as exc:
        raise HTTPException(409, str(exc)) from None
    await _access(request).reload()
    prefix = prefix_of(token)
    name = body.name or prefix
    return json_response({"key": token, "prefix": prefix, "name": name, "scope": body.scope})


@router.delete("/{key}", response_model=StatusOK, responses=UNKNOWN)
async def revoke_key(
    key: Annotated[str, Path(min_length=1, max_length=128, pattern="^[^\\u0000]*$")],
    repo: Repo,
    request: Request,
) -> Any:
    """Revoke the active key with this prefix or name: it is refused from now on."""
    if await repo.keys.revoke(key) is None:
        raise HTTPException(404, f"no active key named or prefixed {key!r}")
    await _access(request).reload()
    return ok()
