"""What the browser is told about every response: run only our own scripts, never in a frame.

The pages show strings that any program holding an ingest key wrote (product names, state,
event data). Templates escape them; the Content-Security-Policy is the second wall: even
markup that slipped through could not run a script, because the policy allows script
files from this origin only — no inline ``<script>``, no ``on…=`` attributes, no
``javascript:`` URLs, no ``eval`` (htmx runs with ``allowEval`` off, see ``base.html``).
``<script type="application/json">`` data blocks are not executed, so they need nothing.

API answers are data, never a page: their policy allows nothing at all. A route may send
its own policy (``/redoc`` does, with a per-request nonce for the styles Redoc injects);
the middleware then leaves that one alone and adds the rest.

CORS is off (browsers refuse cross-origin calls) unless ``DATACAT_CORS_ORIGINS`` names
origins; then Starlette's ``CORSMiddleware`` answers for those origins only.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datacat.settings import Settings

_PAGE = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
"""Pages, static files, ``/docs``: only this origin's files; ``data:`` images for the
icons Swagger UI's stylesheet embeds."""


def _policy(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {sources}" for name, sources in directives.items())


PAGE_POLICY = _policy(_PAGE)
API_POLICY = "default-src 'none'; frame-ancestors 'none'"

CSP = b"content-security-policy"
COMMON = (
    (b"x-content-type-options", b"nosniff"),
    # same-origin, not no-referrer: a browser then still sends Origin on same-origin form
    # posts (no-referrer turns it into "null"), which a CSRF check may rely on.
    (b"referrer-policy", b"same-origin"),
)
CORS_METHODS = ("GET", "HEAD", "POST", "DELETE")
CORS_HEADERS = ("Authorization", "Content-Type")
CORS_EXPOSED = ("Retry-After", "WWW-Authenticate", "X-Request-ID")
"""What a script on an allowed origin may read besides the body: when to retry a 429 or
503, why a 401 refused it, and the id to quote when asking about a request."""


REDOC_STYLE_HASHES = (
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
)
"""The one stylesheet redoc.standalone.js 2.5.4 inserts as it loads, before it is told the
nonce (perfect-scrollbar's), and the empty ``<style>`` it inserts first. Another Redoc
version may differ: ``tests/web/test_csp_xss.py`` reports any blocked style on /redoc."""


def redoc_policy(nonce: str) -> str:
    """Redoc injects ``<style>`` elements (styled-components, given ``nonce`` by
    ``static/docs/redoc.js``) and runs its search index in a worker made from a ``blob:``."""
    styles = " ".join(("'self'", f"'nonce-{nonce}'", *REDOC_STYLE_HASHES))
    return _policy({**_PAGE, "style-src": styles, "worker-src": "'self' blob:"})


def cors_origins(setting: str) -> list[str]:
    """``DATACAT_CORS_ORIGINS`` as a list; a malformed origin stops the start-up.

    A browser's ``Origin`` is ``scheme://host[:port]`` with nothing after it, so an entry
    with a path or a trailing slash would never match: say so instead of ignoring it.
    """
    origins = []
    for raw in setting.split(","):
        origin = raw.strip()
        if not origin:
            continue
        scheme, sep, rest = origin.partition("://")
        if origin != "*" and (
            scheme not in ("http", "https") or not sep or not rest or "/" in rest
        ):
            raise ValueError(
                f"DATACAT_CORS_ORIGINS: {origin!r} is not an origin like "
                "https://example.com or http://localhost:3000 (no path, no trailing slash)"
            )
        origins.append(origin)
    return origins


class SecurityHeaders:
    """Pure ASGI: appends pre-built header pairs to each response's start; nothing else."""

    def __init__(
        self, app: ASGIApp, page: Sequence[tuple[bytes, bytes]], api: Sequence[tuple[bytes, bytes]]
    ) -> None:
        self.app = app
        self.page = list(page)
        self.api = list(api)
        self.page_without_csp = [pair for pair in page if pair[0] != CSP]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/api/"):
            api = self.api

            async def send_api(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", ()), *api]}
                await send(message)

            await self.app(scope, receive, send_api)
            return

        async def send_page(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                own_policy = any(name.lower() == CSP for name, _ in headers)
                headers.extend(self.page_without_csp if own_policy else self.page)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_page)


def install(app: Starlette, settings: Settings) -> None:
    """Wrap the whole middleware stack, whatever is added to it later, in these two layers.

    Outside everything, so that every answer carries the headers — Starlette's own 500,
    which ``ServerErrorMiddleware`` sends from outside all user middleware, and the 401s
    and redirects of the auth layer — and so that a CORS answer (preflight or the
    ``Access-Control-Allow-Origin`` on a 401) comes before any check that could refuse it.
    """
    origins = cors_origins(settings.cors_origins)
    page = [(CSP, PAGE_POLICY.encode()), *COMMON]
    api = [(CSP, API_POLICY.encode()), *COMMON]
    build = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        stack = build()
        if origins:
            stack = CORSMiddleware(
                stack,
                allow_origins=origins,
                allow_methods=CORS_METHODS,
                allow_headers=CORS_HEADERS,
                expose_headers=CORS_EXPOSED,
                max_age=600,
            )
        return SecurityHeaders(stack, page, api)

    # Starlette's hook for building the stack; add_middleware can only nest inside it.
    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
