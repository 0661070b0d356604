"""Who may do what: API keys on ``/api``, the sign-in cookie on the web UI.

``AuthMiddleware`` runs before the fast path and FastAPI, so a refused request is answered
before its body is read or anything is written. It checks keys against an in-memory map of
the active keys' hashes (``Access``), reloaded from the database at most once a second:
a key created or revoked by ``datacat keys`` — another process — takes effect within a
second in every worker and replica, and a request costs a SHA-256 and a dict look-up.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from datacat import scopes, signing
from datacat.settings import Settings
from datacat.store.keys import KeyStore, digest
from datacat.timefmt import now_us

log = logging.getLogger(__name__)

RELOAD_S = 1.0
COOKIE = "datacat_auth"
COOKIE_MAX_AGE_S = 7 * 24 * 3600
SECRET_NAME = "cookie_secret"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, as ``scope["datacat.key"]`` carries it to later layers."""

    prefix: str
    scope: str


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Access:
    """The active keys and the cookie secret, shared by every request of a process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secret = b""
        self._store: KeyStore | None = None
        self._keys: dict[str, Principal] = {}
        self._loaded = -RELOAD_S
        self._reloading: asyncio.Lock | None = None
        self._used: dict[str, int] = {}
        self._enabled = settings.require_auth

    async def start(self, store: KeyStore) -> None:
        self._store = store
        self._reloading = asyncio.Lock()
        settings = self.settings
        self.secret = (settings.secret_key or await store.secret(SECRET_NAME)).encode()
        if settings.bootstrap_admin_key and await store.ensure(
            settings.bootstrap_admin_key, "admin", name="bootstrap-admin"
        ):
            log.info("created the admin key from DATACAT_BOOTSTRAP_ADMIN_KEY")
        await self.reload()
        if self.exposed:
            log.warning(
                "\n%s\nANYONE who can reach %s:%d can read and write every session: no API "
                "key exists. Create one with `datacat keys create --scope admin`, or set "
                "DATACAT_REQUIRE_AUTH=true.\n%s",
                "!" * 78,
                settings.host,
                settings.port,
                "!" * 78,
            )

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def stale(self) -> bool:
        return time.monotonic() - self._loaded >= RELOAD_S

    @property
    def exposed(self) -> bool:
        """Open to everyone and listening beyond this machine: the UI shows a banner."""
        return not self.enabled and not is_loopback(self.settings.host)

    async def reload(self) -> None:
        assert self._store is not None
        active = await self._store.active()
        self._keys = {hashed: Principal(*found) for hashed, found in active.items()}
        self._enabled = bool(self._keys) or self.settings.require_auth
        self._loaded = time.monotonic()

    async def fresh(self) -> None:
        """Reload the keys if the copy is over a second old (one task reloads; others go on
        with the copy they have)."""
        if not self.stale or self._reloading is None:
            return
        if self._reloading.locked():
            return
        async with self._reloading:
            try:
                await self.reload()
            except Exception:  # the database is down: keep the last copy, say why
                log.exception("could not reload API keys; using the copy from before")
                self._loaded = time.monotonic()

    def principal(self, token: str) -> Principal | None:
        found = self._keys.get(digest(token))
        if found is not None:
            self._used[found.prefix] = now_us()
        return found

    def by_prefix(self, prefix: str) -> Principal | None:
        for found in self._keys.values():
            if found.prefix == prefix:
                return found
        return None

    async def flush_usage(self) -> None:
        """Store when keys were last used (the sweeper calls this every few seconds)."""
        used, self._used = self._used, {}
        if used and self._store is not None:
            await self._store.record_use(used)

    def cookie_principal(self, cookie_value: str) -> Principal | None:
        prefix = signing.unsign(self.secret, cookie_value)
        if prefix is None:
            return None
        found = self.by_prefix(prefix)
        return found if found is not None and scopes.allows(found.scope, scopes.PAGE) else None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def bearer_token(scope: Scope) -> str | None:
    authorization = _header(scope, b"authorization")
    if authorization is None:
        return None
    kind, _, token = authorization.partition(" ")
    return token.strip() if kind.lower() == "bearer" and token.strip() else None


def cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class AuthMiddleware:
    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function returning the coroutine that answers: open (no key exists) and
        # with a fresh copy of the keys, a request costs two attribute reads and a clock,
        # and not a frame of this layer's own.
        access = self.access
        if scope["type"] != "http" or not (access.stale or access.enabled):
            return self.app(scope, receive, send)
        return self._checked(scope, receive, send)

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        access = self.access
        if access.stale:
            await access.fresh()
        if not access.enabled:
            await self.app(scope, receive, send)
            return
        needed = scopes.required(scope["method"], scope["path"])
        if needed is None:
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        found = access.principal(token) if token else None
        if found is None and needed == scopes.PAGE:
            value = cookie(scope, COOKIE)
            found = access.cookie_principal(value) if value else None
            if found is None:
                await _to_sign_in(scope, send)
                return
        if found is None:
            detail = "invalid or revoked API key" if token else "an API key is required"
            await _refuse(send, 401, f"{detail}: send 'Authorization: Bearer KEY'")
            return
        if not scopes.allows(found.scope, needed):
            wanted = "read" if needed == scopes.PAGE else needed
            await _refuse(
                send, 403, f"this {found.scope} key may not do this; it needs the {wanted} scope"
            )
            return
        scope["datacat.key"] = found
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = orjson.dumps({"detail": detail})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="datacat"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _to_sign_in(scope: Scope, send: Send) -> None:
    """A page asked for without signing in goes to the sign-in form, and back after it.

    An htmx swap gets ``HX-Redirect`` instead, so the whole page moves rather than the form
    landing inside a table.
    """
    query = scope.get("query_string", b"").decode("latin-1")
    back = scope["path"] + (f"?{query}" if query else "")
    if _header(scope, b"hx-request") == "true":
        back = _header(scope, b"hx-current-url") or "/"
    parts = urlsplit(back)
    back = parts.path + (f"?{parts.query}" if parts.query else "")
    location = "/signin?next=" + quote(back, safe="")
    headers = [(b"location", location.encode()), (b"content-length", b"0")]
    status = 303
    if _header(scope, b"hx-request") == "true":
        headers.append((b"hx-redirect", location.encode()))
        status = 401
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
