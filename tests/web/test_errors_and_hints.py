"""One error page for everything a person can mistype, and hints that name this server.

Over plain HTTP against the web suite's server (both backends): the three session views
answer an unknown session with the shared ``error.html``; an unknown address asked for by
a browser gets a page while a program keeps the JSON 404; the empty-state hints' curl
lines use the address the browser used, not ``localhost:8080``.
"""

from __future__ import annotations

import httpx
import pytest

HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.mark.parametrize(
    "path",
    [
        "/sessions/no-such-session",
        "/ui/sessions/no-such-session/events",
        "/ui/sessions/no-such-session/live",
    ],
)
def test_an_unknown_session_gets_the_error_page(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>No such session</h1>" in response.text
    assert "no-such-session" in response.text


def test_a_cursor_the_server_never_issued_is_a_422_page(http: httpx.Client) -> None:
    session_id = http.post("/api/sessions").json()["session_id"]
    response = http.get(f"/sessions/{session_id}", params={"cursor": "not-a-cursor"})
    assert response.status_code == 422
    assert "<h1>Invalid cursor</h1>" in response.text


def test_a_mistyped_page_address_gets_a_page_and_a_program_gets_json(
    http: httpx.Client,
) -> None:
    page = http.get("/sesions", headers=HTML)
    assert page.status_code == 404
    assert "<h1>Page not found</h1>" in page.text and "/sesions" in page.text
    for path, headers in (("/sesions", {}), ("/api/nothing-here", HTML)):
        answer = http.get(path, headers=headers)
        assert answer.status_code == 404
        assert answer.json() == {"detail": "Not Found"}


def test_empty_state_hints_name_the_server_the_browser_reached(http: httpx.Client) -> None:
    session_id = http.post("/api/sessions").json()["session_id"]
    page = http.get(f"/sessions/{session_id}", headers={"Host": "datacat.example:9999"})
    assert page.status_code == 200
    assert f"curl -X POST http://datacat.example:9999/api/sessions/{session_id}/events" in (
        page.text
    )
    assert "localhost:8080" not in page.text
