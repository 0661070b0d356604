"""No page asks anything of another machine, the docs included; and the headers that say so.

In Chromium every request of every page goes through a route that lets only this server's
address through and records (and aborts) anything else; the ``request`` event also sees
what the page tried that its policy blocked before it went out. ``/docs`` and ``/redoc``
must render from the vendored files. Over plain HTTP: the security headers on a page, an
API answer, a static file and answers refused before the app; CORS off by default and,
with ``DATACAT_CORS_ORIGINS`` set, on for the listed origins only — on a server that
requires a key, whose preflights need none and whose 401s still carry the CORS headers.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from webseed import Seeded

from datacat.security import API_POLICY, PAGE_POLICY, cors_origins
from support import eventually, serve


class Offline:
    """A tab whose requests may reach only ``server_url``."""

    def __init__(self, tab: Any, server_url: str) -> None:
        self.tab = tab
        self.local = urlparse(server_url).netloc
        self.elsewhere: list[str] = []
        self.served: list[str] = []
        tab.context.route("**/*", self._route)
        tab.on("request", self._seen)

    def _is_local(self, url: str) -> bool:
        parsed = urlparse(url)
        return parsed.scheme in ("data", "blob") or parsed.netloc == self.local

    def _route(self, route: Any) -> None:
        url = route.request.url
        if self._is_local(url):
            self.served.append(urlparse(url).path)
            route.continue_()
        else:
            self.elsewhere.append(url)
            route.abort()

    def _seen(self, request: Any) -> None:
        if not self._is_local(request.url) and request.url not in self.elsewhere:
            self.elsewhere.append(request.url)

    def visit(self, path: str) -> None:
        self.tab.goto(path)
        self.tab.wait_for_load_state("networkidle")


@pytest.fixture
def offline(open_page: Callable[..., Any], server_url: str) -> Offline:
    return Offline(open_page(), server_url)


@pytest.mark.browser
def test_no_page_asks_another_host(offline: Offline, seeded: Seeded) -> None:
    pages = [
        "/",
        "/sessions",
        "/sessions?status=crashed",
        f"/sessions/{seeded.ids['p4']}",
        f"/sessions/{seeded.ids['xss']}",
        "/metrics?name=memory_usage&aggregation=peak&mode=contains"
        "&path=window_state.open&value=space+probe",
        "/sessions/no-such-session",
        "/docs",
        "/redoc",
    ]
    for page in pages:
        offline.visit(page)
    assert offline.elsewhere == []
    # Every page's own files did load, through the route, from this server.
    assert "/static/vendor/chart.umd.min.js" in offline.served
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in offline.served
    assert "/static/vendor/redoc/redoc.standalone.js" in offline.served


@pytest.mark.browser
def test_swagger_ui_renders_offline(offline: Offline) -> None:
    offline.visit("/docs")
    tab = offline.tab
    paths = tab.locator(".opblock-summary-path")
    eventually(lambda: paths.count() > 10, True)
    assert "/api/sessions" in paths.all_inner_texts()
    assert tab.locator(".info .title").inner_text().startswith("datacat")
    assert offline.elsewhere == []


@pytest.mark.browser
def test_redoc_renders_offline(offline: Offline) -> None:
    offline.visit("/redoc")
    tab = offline.tab
    eventually(lambda: tab.get_by_role("heading", name="Create Session").count() > 0, True)
    assert "/api/sessions" in tab.locator("body").inner_text()
    # Its search runs in a worker: typing finds an operation.
    tab.get_by_placeholder("Search...").fill("batch")
    results = tab.locator("[data-role='search:results'] li")
    eventually(lambda: "Batch" in results.all_inner_texts()[0] if results.count() else False, True)
    assert offline.elsewhere == []


# -- over HTTP --------------------------------------------------------------------------


def _assert_headers(response: httpx.Response, policy: str) -> None:
    headers = response.headers
    assert headers["content-security-policy"] == policy, response.request.url
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"


def test_security_headers_on_every_kind_of_answer(http: httpx.Client) -> None:
    _assert_headers(http.get("/", headers={"accept": "text/html"}), PAGE_POLICY)
    _assert_headers(http.get("/sessions"), PAGE_POLICY)
    _assert_headers(http.get("/static/app.js"), PAGE_POLICY)
    _assert_headers(http.get("/docs"), PAGE_POLICY)
    _assert_headers(http.get("/openapi.json"), PAGE_POLICY)
    _assert_headers(http.get("/healthz"), PAGE_POLICY)
    _assert_headers(http.get("/api/sessions"), API_POLICY)
    # Answers that never reach a route: the fast path's 404, a validation error, and a
    # body refused by size before anything reads it. None of them writes anything.
    missing = http.post("/api/sessions/no-such-session/events", json={"name": "x"})
    assert missing.status_code == 404
    _assert_headers(missing, API_POLICY)
    invalid = http.post("/api/sessions/no-such-session/metrics", json={"name": ""})
    assert invalid.status_code == 422
    _assert_headers(invalid, API_POLICY)
    too_big = http.post("/api/sessions/x/state", content=b"{" + b" " * 1536 * 1024 + b"}")
    assert too_big.status_code == 413
    _assert_headers(too_big, API_POLICY)


def test_policy_forbids_inline_script_eval_and_framing() -> None:
    directives = dict(part.split(" ", 1) for part in PAGE_POLICY.split("; "))
    assert directives["script-src"] == "'self'"
    assert "unsafe" not in PAGE_POLICY
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "frame-ancestors 'none'" in API_POLICY


def test_docs_pages_load_only_local_files(http: httpx.Client) -> None:
    for path in ("/docs", "/redoc"):
        html = http.get(path).text
        urls = re.findall(r'(?:src|href)="([^"]*)"', html)
        assert urls, path
        assert [url for url in urls if not url.startswith("/")] == [], path
        assert "<script>" not in html, f"{path} has an inline script"


def test_redoc_policy_admits_its_own_nonce_only(http: httpx.Client) -> None:
    first, second = http.get("/redoc"), http.get("/redoc")
    nonces = []
    for response in (first, second):
        [nonce] = re.findall(r"'nonce-([^']+)'", response.headers["content-security-policy"])
        assert f'nonce="{nonce}"' in response.text
        assert "script-src 'self';" in response.headers["content-security-policy"]
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


PREFLIGHT = {
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type",
}


def test_cors_is_off_by_default(http: httpx.Client) -> None:
    origin = {"origin": "https://elsewhere.example"}
    preflight = http.options("/api/sessions", headers={**origin, **PREFLIGHT})
    assert "access-control-allow-origin" not in preflight.headers
    answer = http.get("/api/sessions", headers=origin)
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


class CorsServer:
    def __init__(self, url: str, read_key: str) -> None:
        self.url = url
        self.read_key = read_key


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorsServer]:
    """CORS for two origins, on a server that requires a key (a read key is made)."""
    db: Path = tmp_path_factory.mktemp("cors") / "cors.db"
    database = f"sqlite+aiosqlite:///{db}"
    env = {
        "DATACAT_CORS_ORIGINS": "http://allowed.example:3000, https://also.example",
        "DATACAT_REQUIRE_AUTH": "true",
    }
    with serve(database, env=env) as url:
        create = [*"keys create --scope read --database-url".split(), database]
        made = subprocess.run(
            [sys.executable, "-m", "datacat.cli", *create],
            capture_output=True,
            text=True,
            check=True,
        )
        yield CorsServer(url, made.stdout.strip())


def test_cors_answers_listed_origins_only(cors_server: CorsServer) -> None:
    allowed = "http://allowed.example:3000"
    stranger = "https://not-listed.example"
    key = {"authorization": f"Bearer {cors_server.read_key}"}
    with httpx.Client(base_url=cors_server.url) as http:
        # The preflight carries no key by design; it is answered before any key check.
        preflight = http.options("/api/sessions", headers={"origin": allowed, **PREFLIGHT})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == allowed
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        assert "POST" in preflight.headers["access-control-allow-methods"]
        refused = http.options("/api/sessions", headers={"origin": stranger, **PREFLIGHT})
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers

        answer = _answered(http, {"origin": allowed, **key})
        assert answer.headers["access-control-allow-origin"] == allowed
        _assert_headers(answer, API_POLICY)
        # A refusal reaches the other origin's script too, with the header that explains it.
        unauthorized = http.get("/api/sessions", headers={"origin": allowed})
        assert unauthorized.status_code == 401
        assert unauthorized.headers["access-control-allow-origin"] == allowed
        exposed = unauthorized.headers["access-control-expose-headers"].lower()
        assert "www-authenticate" in exposed and "x-request-id" in exposed
        assert unauthorized.headers["x-request-id"]
        _assert_headers(unauthorized, API_POLICY)
        answer = http.get("/api/sessions", headers={"origin": stranger, **key})
        assert answer.status_code == 200
        assert "access-control-allow-origin" not in answer.headers


def _answered(http: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    """The first 200: a key made by another process is seen within about a second."""

    def attempt() -> httpx.Response | None:
        response = http.get("/api/sessions", headers=headers)
        return response if response.status_code == 200 else None

    answer = eventually(attempt, timeout=10)
    assert answer is not None
    return answer


def test_cors_origins_setting() -> None:
    assert cors_origins("") == []
    assert cors_origins(" http://a.example:3000 ,https://b.example,") == [
        "http://a.example:3000",
        "https://b.example",
    ]
    assert cors_origins("*") == ["*"]
    for wrong in ("https://a.example/", "a.example", "ftp://a.example", "https://"):
        with pytest.raises(ValueError, match="DATACAT_CORS_ORIGINS"):
            cors_origins(wrong)
