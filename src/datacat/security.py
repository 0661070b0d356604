"""What the browser is told about every response: run only our own scripts, never in a frame.

The pages show strings that any program holding an ingest key wrote (product names, state,
event data). Templates escape them; the Content-Security-Policy is the second wall: even
markup that slipped through could not run a script, because the policy allows script
files from this origin only — no inline ``<script>``, no ``on…=`` attributes, no
``javascript:`` URLs, no ``eval`` (htmx runs with ``allowEval`` off, see ``base.html``).
``<script type="application/json">`` data blocks are not executed, so they need nothing.

API answers are data, never a page: their policy allows nothing at all. A route may send
its own policy (``/redoc`` does, with a per-request nonce for the styles Redoc injects);
that one is then left alone and the rest added. ``observability.Observe``, the one layer
every answer leaves through, adds them (``with_headers``): a layer of their own would cost
every ingest request a coroutine and a send wrapper more.

CORS is off (browsers refuse cross-origin calls) unless ``DATACAT_CORS_ORIGINS`` names
origins; then Starlette's ``CORSMiddleware`` answers for those origins only.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

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
API_HEADERS = ((CSP, API_POLICY.encode()), *COMMON)
PAGE_HEADERS = ((CSP, PAGE_POLICY.encode()), *COMMON)

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


def is_api(path: str) -> bool:
    """API answers get ``API_HEADERS``; everything else is a page."""
    return path.startswith("/api/")


def with_headers(headers: Iterable[tuple[bytes, bytes]], api: bool) -> list[tuple[bytes, bytes]]:
    """A response's own ``headers``, then ours; a page keeps a policy its route sent.

    A new list (the response's own is never changed), built once per answer:
    ``observability.Observe`` appends the request id to it and sends it.
    """
    if api:
        return [*headers, *API_HEADERS]
    answer = list(headers)
    own_policy = any(name.lower() == CSP for name, _ in answer)
    answer.extend(COMMON if own_policy else PAGE_HEADERS)
    return answer


def install(app: Starlette, settings: Settings) -> None:
    """Wrap the whole middleware stack, whatever is added to it later, in ``CORSMiddleware``
    when ``DATACAT_CORS_ORIGINS`` names origins.

    Around everything but ``observability.Observe`` (installed after this, so outside it,
    and which adds the headers above to every answer): a CORS answer (a preflight, or the
    ``Access-Control-Allow-Origin`` on a 401) comes before any check that could refuse it.
    """
    origins = cors_origins(settings.cors_origins)
    if not origins:
        return
    build = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        return CORSMiddleware(
            build(),
            allow_origins=origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
            expose_headers=CORS_EXPOSED,
            max_age=600,
        )

    # Starlette's hook for building the stack; add_middleware can only nest inside it.
    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
