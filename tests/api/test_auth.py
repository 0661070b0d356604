"""API keys and scopes against a real server, on SQLite and PostgreSQL.

Keys are made as an operator makes them (``datacat keys create`` in a subprocess, against
the database the server uses), so these tests also prove that a key created by another
process is seen, and a revoked one refused, without restarting the server.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from datacat import scopes, signing
from datacat.auth import is_loopback
from datacat_web.signin import safe_next
from support import BACKENDS, datacat_server, eventually, fresh_database
from support.auth import bearer, create_key, datacat_cli

SESSION_WRITES = ("state", "events", "metrics", "heartbeat", "end")


@dataclass
class Secured:
    url: str
    database_url: str
    keys: dict[str, str]
    log_path: Path


@pytest.fixture(scope="module", params=BACKENDS)
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Secured]:
    """A server that starts open; the first test-visible step creates its keys."""
    folder = tmp_path_factory.mktemp(f"auth-{request.param}")
    with fresh_database(request.param, folder, "auth") as database_url:
        log_path = folder / "server.log"
        env = {"DATACAT_SWEEP_INTERVAL_S": "0.3"}
        with datacat_server(database_url, env=env, log_path=log_path) as server:
            opened = httpx.post(f"{server.url}/api/sessions")
            assert opened.status_code == 200, "a server without keys is open"
            keys = {scope: create_key(database_url, scope) for scope in scopes_in_order()}
            eventually(lambda: httpx.post(f"{server.url}/api/sessions").status_code == 401)
            yield Secured(server.url, database_url, keys, log_path)


def scopes_in_order() -> tuple[str, ...]:
    return (scopes.INGEST, scopes.READ, scopes.ADMIN)


def _count_sessions(s: Secured) -> int:
    page = httpx.get(f"{s.url}/api/sessions?limit=500", headers=bearer(s.keys["admin"]))
    assert page.status_code == 200
    return len(page.json()["items"])


def _new_session(s: Secured) -> str:
    made = httpx.post(f"{s.url}/api/sessions", headers=bearer(s.keys["ingest"]), json={})
    assert made.status_code == 200, made.text
    return str(made.json()["session_id"])


def _writes(session_id: str) -> list[tuple[str, str, object]]:
    """One request of every ingest kind, on both serving paths (fast path and FastAPI)."""
    return [
        ("POST", "/api/sessions", {"product": "p"}),
        ("POST", f"/api/sessions/{session_id}/state", {"a": 1}),
        ("POST", f"/api/sessions/{session_id}/events", {"name": "e"}),
        ("POST", f"/api/sessions/{session_id}/metrics", {"name": "m", "value": 1}),
        ("POST", f"/api/sessions/{session_id}/heartbeat", {}),
        (
            "POST",
            "/api/batch",
            {"items": [{"session_id": session_id, "op": "event", "name": "b"}]},
        ),
    ]


READS = [
    "/api/sessions",
    "/api/metrics/names",
    "/api/metrics/series?name=m",
    "/api/grafana/sessions",
]


def test_without_a_key_every_api_call_is_401_and_writes_nothing(secured: Secured) -> None:
    session_id = _new_session(secured)
    before = _count_sessions(secured)
    history = httpx.get(
        f"{secured.url}/api/sessions/{session_id}", headers=bearer(secured.keys["read"])
    ).json()
    for headers in ({}, bearer("dc_not-a-key"), {"Authorization": "Basic Zm9vOmJhcg=="}):
        for method, path, body in _writes(session_id):
            answer = httpx.request(method, secured.url + path, json=body, headers=headers)
            assert answer.status_code == 401, (path, headers, answer.text)
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert "API key" in answer.json()["detail"]
        for path in [*READS, f"/api/sessions/{session_id}"]:
            answer = httpx.get(secured.url + path, headers=headers)
            assert answer.status_code == 401, (path, answer.text)
            assert answer.headers["www-authenticate"].startswith("Bearer")
    assert _count_sessions(secured) == before
    after = httpx.get(
        f"{secured.url}/api/sessions/{session_id}", headers=bearer(secured.keys["read"])
    ).json()
    assert after == history


def test_an_ingest_key_writes_but_cannot_read(secured: Secured) -> None:
    key = bearer(secured.keys["ingest"])
    session_id = _new_session(secured)
    for method, path, body in _writes(session_id):
        answer = httpx.request(method, secured.url + path, json=body, headers=key)
        assert answer.status_code == 200, (path, answer.text)
    ended = httpx.post(f"{secured.url}/api/sessions/{session_id}/end", json={}, headers=key)
    assert ended.status_code == 200
    for path in [*READS, f"/api/sessions/{session_id}"]:
        answer = httpx.get(secured.url + path, headers=key)
        assert answer.status_code == 403, (path, answer.text)
        assert "read scope" in answer.json()["detail"]
    stored = httpx.get(
        f"{secured.url}/api/sessions/{session_id}", headers=bearer(secured.keys["read"])
    ).json()
    assert [e["name"] for e in stored["events"]] == ["e", "b"]
    assert stored["state"] == {"a": 1} and stored["active"] is False


def test_a_read_key_reads_but_cannot_write(secured: Secured) -> None:
    key = bearer(secured.keys["read"])
    session_id = _new_session(secured)
    before = httpx.get(f"{secured.url}/api/sessions/{session_id}", headers=key).json()
    count = _count_sessions(secured)
    for method, path, body in _writes(session_id):
        answer = httpx.request(method, secured.url + path, json=body, headers=key)
        assert answer.status_code == 403, (path, answer.text)
        assert "ingest scope" in answer.json()["detail"]
    for path in READS:
        assert httpx.get(secured.url + path, headers=key).status_code == 200, path
    assert httpx.get(f"{secured.url}/api/sessions/{session_id}", headers=key).json() == before
    assert _count_sessions(secured) == count


def test_an_admin_key_reads_and_writes(secured: Secured) -> None:
    key = bearer(secured.keys["admin"])
    session_id = _new_session(secured)
    for method, path, body in _writes(session_id):
        assert httpx.request(method, secured.url + path, json=body, headers=key).status_code == 200
    for path in READS:
        assert httpx.get(secured.url + path, headers=key).status_code == 200, path


def test_health_checks_and_docs_stay_open(secured: Secured) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json", "/static/app.css"):
        assert httpx.get(secured.url + path).status_code == 200, path


def test_pages_need_a_read_key_or_sign_in(secured: Secured) -> None:
    anonymous = httpx.get(f"{secured.url}/sessions?status=active", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/signin?next=%2Fsessions%3Fstatus%3Dactive"
    partial = httpx.get(f"{secured.url}/ui/dashboard", headers={"HX-Request": "true"})
    assert partial.status_code == 401 and partial.headers["hx-redirect"].startswith("/signin")
    page = httpx.get(f"{secured.url}/sessions", headers=bearer(secured.keys["read"]))
    assert page.status_code == 200 and "<table" in page.text
    refused = httpx.get(f"{secured.url}/sessions", headers=bearer(secured.keys["ingest"]))
    assert refused.status_code == 403


def test_keys_are_stored_hashed_and_listed_without_the_key(secured: Secured) -> None:
    listing = datacat_cli(secured.database_url, "keys", "list")
    assert listing.returncode == 0, listing.stderr
    for scope, key in secured.keys.items():
        assert key not in listing.stdout
        line = next(line for line in listing.stdout.splitlines() if line.startswith(key[:11]))
        assert f" {scope} " in line

    # last used: written by the server's sweeper, a fraction of a second after use
    def admin_used() -> bool:
        httpx.get(f"{secured.url}/api/sessions", headers=bearer(secured.keys["admin"]))
        out = datacat_cli(secured.database_url, "keys", "list").stdout
        line = next(
            line for line in out.splitlines() if line.startswith(secured.keys["admin"][:11])
        )
        return "never" not in line

    eventually(admin_used)
    if secured.database_url.startswith("sqlite"):
        path = secured.database_url.split("///", 1)[1]
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT * FROM api_keys").fetchall()
        stored = "\n".join(str(row) for row in rows)
        for key in secured.keys.values():
            assert key not in stored
            assert hashlib.sha256(key.encode()).hexdigest() in stored


def test_a_revoked_key_is_refused_without_a_restart(secured: Secured) -> None:
    key = create_key(secured.database_url, "ingest", name="short-lived")
    eventually(
        lambda: httpx.post(f"{secured.url}/api/sessions", headers=bearer(key)).status_code == 200
    )
    revoked = datacat_cli(secured.database_url, "keys", "revoke", "short-lived")
    assert revoked.returncode == 0 and key[:11] in revoked.stdout
    eventually(
        lambda: httpx.post(f"{secured.url}/api/sessions", headers=bearer(key)).status_code == 401
    )
    again = datacat_cli(secured.database_url, "keys", "revoke", "short-lived")
    assert again.returncode == 1 and "no active key" in again.stderr


def test_key_commands_report_mistakes(secured: Secured) -> None:
    taken = datacat_cli(
        secured.database_url, "keys", "create", "--scope", "read", "--name", "twice"
    )
    assert taken.returncode == 0
    again = datacat_cli(
        secured.database_url, "keys", "create", "--scope", "read", "--name", "twice"
    )
    assert again.returncode == 1 and "exists already" in again.stderr and again.stdout == ""
    wrong = datacat_cli(secured.database_url, "keys", "create", "--scope", "everything")
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr


def test_require_auth_closes_a_server_with_no_keys(tmp_path: Path) -> None:
    with datacat_server(
        f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", env={"DATACAT_REQUIRE_AUTH": "true"}
    ) as server:
        assert httpx.post(f"{server.url}/api/sessions").status_code == 401
        assert httpx.get(f"{server.url}/api/sessions").status_code == 401
        assert httpx.get(f"{server.url}/readyz").status_code == 200


def test_a_bootstrap_admin_key_is_created_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    env = {"DATACAT_BOOTSTRAP_ADMIN_KEY": "container-admin-key-0123456789"}
    for _ in range(2):  # a restart must not add a second key
        with datacat_server(url, env=env) as server:
            assert httpx.get(f"{server.url}/api/sessions").status_code == 401
            good = bearer("container-admin-key-0123456789")
            assert httpx.get(f"{server.url}/api/sessions", headers=good).status_code == 200
            assert httpx.post(f"{server.url}/api/sessions", headers=good).status_code == 200
    listing = datacat_cli(url, "keys", "list").stdout.splitlines()
    assert len(listing) == 2 and "bootstrap-admin" in listing[1] and " admin " in listing[1]


def test_open_on_the_network_warns_in_the_log_and_the_ui(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    log_path = tmp_path / "server.log"
    with datacat_server(url, "--host", "0.0.0.0", log_path=log_path) as server:
        page = httpx.get(f"{server.url}/sessions")
        assert 'id="open-banner"' in page.text
        assert "ANYONE who can reach 0.0.0.0" in log_path.read_text()
        create_key(url, "admin")
        eventually(lambda: httpx.get(f"{server.url}/sessions").status_code == 303)
    with datacat_server(url, log_path=tmp_path / "loopback.log") as server:
        pass
    assert "ANYONE" not in (tmp_path / "loopback.log").read_text()


def test_a_loopback_server_without_keys_shows_no_banner(tmp_path: Path) -> None:
    with datacat_server(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}") as server:
        assert 'id="open-banner"' not in httpx.get(f"{server.url}/sessions").text


@pytest.mark.parametrize(
    ("method", "path", "needed"),
    [
        ("GET", "/api/sessions", "read"),
        ("HEAD", "/api/sessions/x", "read"),
        ("POST", "/api/sessions", "ingest"),
        ("POST", "/api/batch", "ingest"),
        ("POST", "/api/sessions/x/end", "ingest"),
        ("DELETE", "/api/sessions/x", "admin"),
        ("GET", "/api/keys", "admin"),
        ("OPTIONS", "/api/sessions", None),
        ("POST", "/v1/logs", "ingest"),
        ("GET", "/healthz", None),
        ("GET", "/static/app.css", None),
        ("GET", "/signin", None),
        ("GET", "/", "page"),
        ("GET", "/sessions/abc", "page"),
        ("GET", "/ui/dashboard", "page"),
    ],
)
def test_the_scope_each_request_needs(method: str, path: str, needed: str | None) -> None:
    assert scopes.required(method, path) == needed


def test_what_each_scope_allows() -> None:
    granted = {
        (scope, needed): scopes.allows(scope, needed)
        for scope in ("ingest", "read", "admin")
        for needed in ("ingest", "read", "admin", "page")
    }
    assert {pair for pair, ok in granted.items() if ok} == {
        ("ingest", "ingest"),
        ("read", "read"),
        ("read", "page"),
        ("admin", "ingest"),
        ("admin", "read"),
        ("admin", "admin"),
        ("admin", "page"),
    }


def test_signed_values_resist_tampering_and_expire() -> None:
    secret = b"s" * 32
    signed = signing.sign(secret, "dc_abc", max_age_s=60, now=1000)
    assert signing.unsign(secret, signed, now=1030) == "dc_abc"
    assert signing.unsign(secret, signed, now=1061) is None
    assert signing.unsign(b"t" * 32, signed, now=1030) is None
    assert signing.unsign(secret, signed.replace("dc_abc", "dc_abd"), now=1030) is None
    value, expires, mac = signed.split("|")
    assert signing.unsign(secret, f"{value}|{int(expires) + 999}|{mac}", now=1030) is None


def test_sign_in_returns_only_to_this_site() -> None:
    assert safe_next("/sessions?status=ended") == "/sessions?status=ended"
    for hostile in ("//evil.example/x", "https://evil.example", "/\\evil.example", "", None):
        assert safe_next(hostile) == "/"


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.1.2.3"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "example.com"))
