"""API keys and the service's shared secrets: the SQL behind ``datacat keys`` and auth.

A key is shown once, when created; the database keeps only its SHA-256, so a copy of the
database (a backup, an export) gives nobody a working key. The table is tiny, so the
server reads every active key at once and checks requests against that map in memory
(``datacat.auth``), instead of a query per request.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from datacat.store.database import WRITE_OPTION
from datacat.store.tables import api_keys, service_settings
from datacat.store.writelock import WriteLock
from datacat.timefmt import now_us

SCOPES = ("ingest", "read", "admin")
TOKEN_PREFIX = "dc_"
PREFIX_LENGTH = 11
"""``dc_`` and 8 random characters: enough to tell keys apart, useless to an attacker."""


class KeyConflict(ValueError):
    """A key with that name (or that very token) exists already."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    prefix: str
    name: str
    scope: str
    created_us: int
    last_used_us: int | None
    revoked_us: int | None


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def prefix_of(token: str) -> str:
    return token[:PREFIX_LENGTH]


class KeyStore:
    def __init__(self, engine: AsyncEngine, lock: WriteLock) -> None:
        self.engine = engine
        self._lock = lock

    async def create(self, scope: str, name: str | None = None, token: str | None = None) -> str:
        """Store a new key (a fresh random one unless ``token`` is given) and return it."""
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
        token = token or new_token()
        prefix = prefix_of(token)
        row = {
            "name": name or prefix,
            "prefix": prefix,
            "hash": digest(token),
            "scope": scope,
            "created_us": now_us(),
        }
        try:
            async with self._writing() as conn:
                taken = await conn.scalar(
                    select(api_keys.c.name).where(
                        or_(
                            api_keys.c.name == row["name"],
                            api_keys.c.prefix == prefix,
                            api_keys.c.hash == row["hash"],
                        )
                    )
                )
                if taken is not None:
                    raise KeyConflict(f"a key named or starting like {taken!r} exists already")
                await conn.execute(insert(api_keys).values(row))
        except IntegrityError:  # another process created the same key in between
            raise KeyConflict(f"a key named {row['name']!r} exists already") from None
        return token

    async def ensure(self, token: str, scope: str, name: str) -> bool:
        """Create ``token`` unless it is stored already (active or revoked); True if created.

        For ``DATACAT_BOOTSTRAP_ADMIN_KEY``: every start, and every worker, may call it.
        """
        async with self.engine.connect() as conn:
            known = await conn.scalar(select(api_keys.c.id).where(api_keys.c.hash == digest(token)))
        if known is not None:
            return False
        try:
            await self.create(scope, name=name, token=token)
        except KeyConflict:
            return False
        return True

    async def list(self) -> list[ApiKey]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(
                    api_keys.c.prefix,
                    api_keys.c.name,
                    api_keys.c.scope,
                    api_keys.c.created_us,
                    api_keys.c.last_used_us,
                    api_keys.c.revoked_us,
                ).order_by(api_keys.c.id)
            )
            return [ApiKey(*row) for row in rows]

    async def revoke(self, prefix_or_name: str) -> ApiKey | None:
        """Revoke the active key with that prefix or name; None if there is none."""
        async with self._writing() as conn:
            row = (
                await conn.execute(
                    select(api_keys.c.id, api_keys.c.prefix).where(
                        or_(api_keys.c.prefix == prefix_or_name, api_keys.c.name == prefix_or_name),
                        api_keys.c.revoked_us.is_(None),
                    )
                )
            ).first()
            if row is None:
                return None
            await conn.execute(
                update(api_keys).where(api_keys.c.id == row.id).values(revoked_us=now_us())
            )
        return next(key for key in await self.list() if key.prefix == row.prefix)

    async def active(self) -> dict[str, tuple[str, str]]:
        """Every usable key: its hash → (prefix, scope)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(api_keys.c.hash, api_keys.c.prefix, api_keys.c.scope).where(
                    api_keys.c.revoked_us.is_(None)
                )
            )
            return {row.hash: (row.prefix, row.scope) for row in rows}

    async def record_use(self, last_used: Mapping[str, int]) -> None:
        """When keys were last used, written in one transaction now and then rather than
        on the request path."""
        if not last_used:
            return
        async with self._writing() as conn:
            for prefix, when in last_used.items():
                await conn.execute(
                    update(api_keys).where(api_keys.c.prefix == prefix).values(last_used_us=when)
                )

    async def secret(self, name: str) -> str:
        """A random secret shared by every process and kept across restarts."""
        async with self.engine.connect() as conn:
            value = await conn.scalar(
                select(service_settings.c.value).where(service_settings.c.name == name)
            )
        if value is not None:
            return str(value)
        try:
            async with self._writing() as conn:
                await conn.execute(
                    insert(service_settings).values(name=name, value=secrets.token_hex(32))
                )
        except IntegrityError:  # another worker stored it first: use theirs
            pass
        async with self.engine.connect() as conn:
            return str(
                await conn.scalar(
                    select(service_settings.c.value).where(service_settings.c.name == name)
                )
            )

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction under the process's write lock (see ``writelock``)."""
        async with self._lock.hold(), self.engine.connect() as conn:
            conn = await conn.execution_options(**{WRITE_OPTION: True})
            async with conn.begin():
                yield conn
