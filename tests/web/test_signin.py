"""Signing in to the web UI of a key-protected server: the cookie, the form's CSRF
defences, sign-out, and the whole flow in a real browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import datacat_server, eventually
from support.auth import bearer, create_key, datacat_cli


@dataclass
class Site:
    url: str
    database_url: str
    read: str
    ingest: str
    admin: str
    session_id: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    database_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('signin') / 'signin.db'}"
    keys = {scope: create_key(database_url, scope) for scope in ("read", "ingest", "admin")}
    with datacat_server(database_url) as server:
        made = httpx.post(
            f"{server.url}/api/sessions",
            headers=bearer(keys["ingest"]),
            json={"product": "signed-in-product"},
        )
        assert made.status_code == 200
        yield Site(
            server.url,
            database_url,
            keys["read"],
            keys["ingest"],
            keys["admin"],
            made.json()["session_id"],
        )


def _form(client: httpx.Client, next_path: str = "/sessions") -> str:
    """Open the sign-in form; return its CSRF token (the client keeps the cookie)."""
    page = client.get("/signin", params={"next": next_path})
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def _sign_in(
    client: httpx.Client, key: str, next_path: str = "/sessions", **extra: str
) -> httpx.Response:
    token = _form(client, next_path)
    fields = {"csrf": token, "next": next_path, "key": key, **extra}
    return client.post("/signin", data=fields)


def test_signing_in_sets_a_protected_cookie_and_opens_the_pages(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        assert client.get("/sessions").status_code == 303
        answer = _sign_in(client, site.read, next_path="/sessions?product=signed-in-product")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/sessions?product=signed-in-product"
        cookie = next(
            v for v in answer.headers.get_list("set-cookie") if v.startswith("datacat_auth=")
        )
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/"} <= flags
        assert "secure" not in flags  # served over plain HTTP here
        assert site.read not in cookie  # the cookie names the key, it is not the key
        page = client.get("/sessions?product=signed-in-product")
        assert page.status_code == 200 and "signed-in-product" in page.text
        assert 'id="signout"' in page.text
        assert client.get("/api/sessions").status_code == 401  # the API wants the key itself


def test_the_hints_curl_lines_carry_a_key(site: Site) -> None:
    page = httpx.get(f"{site.url}/sessions/{site.session_id}", headers=bearer(site.read))
    hint = f"curl -H &#34;Authorization: Bearer $DATACAT_API_KEY&#34; -X POST {site.url}/api/"
    assert hint in page.text


def test_the_cookies_are_secure_when_served_over_https(site: Site) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1, as from a TLS-terminating proxy. The
    # client speaks plain HTTP, so it would not send Secure cookies back: send it by hand.
    https = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=site.url, headers=https) as client:
        form = client.get("/signin")
        assert "secure" in form.headers["set-cookie"].lower()
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        answer = client.post(
            "/signin",
            data={"csrf": token.group(1), "next": "/", "key": site.read},
            headers={"Cookie": f"datacat_csrf={token.group(1)}"},
        )
        assert answer.status_code == 303
        cookie = next(
            v for v in answer.headers.get_list("set-cookie") if v.startswith("datacat_auth=")
        )
        assert "secure" in cookie.lower()


def test_the_form_refuses_forged_or_foreign_posts(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        _form(client)
        forged = client.post("/signin", data={"csrf": "guessed", "next": "/", "key": site.read})
        assert forged.status_code == 403 and "datacat_auth" not in forged.headers.get(
            "set-cookie", ""
        )
    with httpx.Client(base_url=site.url) as fresh:  # no CSRF cookie at all
        bare = fresh.post("/signin", data={"csrf": "x", "next": "/", "key": site.read})
        assert bare.status_code == 403
    with httpx.Client(base_url=site.url) as client:
        foreign = _sign_in(client, site.read, headers_origin="x")
        assert foreign.status_code == 303  # an unknown extra field changes nothing
        token = _form(client)
        other_site = client.post(
            "/signin",
            data={"csrf": token, "next": "/", "key": site.read},
            headers={"Origin": "https://evil.example"},
        )
        assert other_site.status_code == 403


def test_wrong_keys_are_refused_with_a_reason(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        bad = _sign_in(client, "dc_not-a-key")
        assert bad.status_code == 401 and "not valid" in bad.text
        writer = _sign_in(client, site.ingest)
        assert writer.status_code == 403 and "read or admin key" in writer.text
        assert client.get("/sessions").status_code == 303
        admin = _sign_in(client, site.admin, next_path="//evil.example/x")
        assert admin.status_code == 303 and admin.headers["location"] == "/"


def test_signing_out_and_revoking_end_the_sign_in(site: Site) -> None:
    key = create_key(site.database_url, "read", name="revoked-reader")
    with httpx.Client(base_url=site.url) as client:
        eventually(lambda: _sign_in(client, key).status_code == 303)
        page = client.get("/sessions")
        token = re.search(r'name="token" value="([^"]+)"', page.text)
        assert token is not None
        refused = client.post("/signout", data={"token": "forged"})
        assert refused.status_code == 403 and client.get("/sessions").status_code == 200
        assert datacat_cli(site.database_url, "keys", "revoke", "revoked-reader").returncode == 0
        eventually(lambda: client.get("/sessions").status_code == 303)
    with httpx.Client(base_url=site.url) as client:
        _sign_in(client, site.read)
        page = client.get("/sessions")
        token = re.search(r'name="token" value="([^"]+)"', page.text)
        assert token is not None
        out = client.post("/signout", data={"token": token.group(1)})
        assert out.status_code == 303 and out.headers["location"] == "/signin"
        assert client.get("/sessions").status_code == 303


@pytest.mark.browser
def test_sign_in_and_out_in_a_browser(browser: Any, site: Site, tmp_path: Path) -> None:
    context = browser.new_context(base_url=site.url)
    context.set_default_timeout(10_000)
    try:
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto("/sessions?product=signed-in-product")
        assert tab.url.startswith(f"{site.url}/signin")
        tab.fill("input[name=key]", "dc_wrong")
        tab.click("#signin button[type=submit]")
        assert "not valid" in tab.inner_text("#signin-error")
        tab.fill("input[name=key]", site.read)
        tab.click("#signin button[type=submit]")
        tab.wait_for_url(f"{site.url}/sessions?product=signed-in-product")
        assert "signed-in-product" in tab.inner_text("main")
        cookies = {c["name"]: c for c in context.cookies()}
        assert (
            cookies["datacat_auth"]["httpOnly"] and cookies["datacat_auth"]["sameSite"] == "Strict"
        )
        assert tab.evaluate("document.cookie") == ""  # nothing readable by scripts
        tab.click("#signout button")
        tab.wait_for_url(f"{site.url}/signin")
        tab.goto("/")
        assert tab.url.startswith(f"{site.url}/signin")
        assert errors == []
    finally:
        context.close()
