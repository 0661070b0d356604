"""The Exceptions pages (``/exceptions``, ``/exceptions/{fingerprint}``) and the session
detail's link from an exception event to its group, on the seeded web server.

This module seeds its own exceptions (``world``) in a product no other web test uses, over
the public API, with explicit timestamps: 53 groups (more than a page of 50), one of them
with 55 occurrences (more than a page of occurrences) across three sessions, hosts,
install roots and line numbers, one seed-style (traceback lines only) and one with a
hostile message. The expected answers come from ``model``: the group of each seeded
occurrence is written down by hand, and each fingerprint is the contract's sha256
restated here, not ``datacat.fingerprint``. Plain-HTTP checks run on both backends; the
browser one (nav link, htmx sort and filter, highlighted frames, links) on SQLite.
"""

from __future__ import annotations

import hashlib
import html
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pagehelp import query_of, texts
from webseed import Seeded

from datacat.timefmt import to_rfc3339

TOKEN = uuid.uuid4().hex[:8]
PRODUCT = f"exc-web-{TOKEN}"
HOSTILE = "<img src=x onerror=alert(1)>"
T0 = 1_950_000_000_000_000  # 2031-10-16, after everything the web seed logs
SESSIONS = {"w1": ("1.0", "host-a"), "w2": ("1.1", "host-b"), "w3": ("1.1", "host-c")}


def contract_fp(kind: str, *keys: str) -> str:
    return hashlib.sha256("\n".join([kind, *keys]).encode()).hexdigest()[:32]


def framed(
    kind: str, function: str, line: int, root: str, message: str, fatal: bool = False
) -> dict[str, Any]:
    """An exception's data as the Python client sends it, frames without ``in_app``."""
    data: dict[str, Any] = {
        "type": kind,
        "message": message,
        "traceback": [
            "Traceback (most recent call last):",
            f'  File "{root}/myapp/views.py", line {line}, in {function}',
            f'  File "/usr/lib/python3.12/json/decoder.py", line {line + 300}, in decode',
            f"{kind}: {message}",
        ],
        "frames": [
            {"file": f"{root}/myapp/views.py", "line": line, "function": function},
            {
                "file": "/usr/lib/python3.12/json/decoder.py",
                "line": line + 300,
                "function": "decode",
            },
        ],
    }
    if fatal:
        data["fatal"] = True
    return data


@dataclass(frozen=True)
class Occurrence:
    group: str
    session: str
    second: int
    data: dict[str, Any]


def build() -> tuple[list[Occurrence], dict[str, str]]:
    keys = {
        "X": contract_fp("ValueError", f"myapp/views.py:parse_{TOKEN}"),
        "Y": contract_fp("KeyError", f"myapp/main.py:main_{TOKEN}"),
    }
    seeded: list[Occurrence] = []
    for i in range(55):  # X: three sessions, two roots, shifting lines, every 11th fatal
        session = ("w1", "w2", "w3")[i % 3]
        root = "/srv/app" if i % 2 else "/home/ci/build"
        data = framed("ValueError", f"parse_{TOKEN}", 10 + i % 7, root, f"bad {i}", i % 11 == 0)
        seeded.append(Occurrence("X", session, 100 + i, data))
    seed_style = {
        "type": "KeyError",
        "message": HOSTILE,
        "traceback": [
            "Traceback (most recent call last):\n",
            f'  File "C:\\app\\myapp\\main.py", line 3, in main_{TOKEN}\n',
            f"KeyError: {HOSTILE}\n",
        ],
    }
    seeded.append(Occurrence("Y", "w2", 400, seed_style))
    for n in range(51):  # fillers: one occurrence each, older than X and Y
        kind = "TypeError"
        keys[f"Z{n}"] = contract_fp(kind, f"myapp/views.py:filler_{n}_{TOKEN}")
        data = framed(kind, f"filler_{n}_{TOKEN}", 5, "/srv/app", f"filler {n}")
        seeded.append(Occurrence(f"Z{n}", ("w1", "w3")[n % 2], 10 + n, data))
    return seeded, keys


SEEDED, KEYS = build()


def when(second: int) -> str:
    return to_rfc3339(T0 + second * 1_000_000)


def shown_time(second: int) -> str:
    return when(second)[:19].replace("T", " ")


def model(sort: str = "recent", fatal: bool | None = None) -> list[dict[str, Any]]:
    """The groups as the page lists them (figures as text), from the seeded occurrences."""
    by_group: dict[str, list[Occurrence]] = {}
    for o in SEEDED:
        if fatal is None or (o.data.get("fatal") is True) == fatal:
            by_group.setdefault(o.group, []).append(o)
    rows = []
    for group, found in by_group.items():
        latest = max(found, key=lambda o: o.second)
        rows.append(
            {
                "fingerprint": KEYS[group],
                "type": latest.data["type"],
                "message": latest.data["message"],
                "occurrences": str(len(found)),
                "sessions": str(len({o.session for o in found})),
                "fatal": str(sum(1 for o in found if o.data.get("fatal") is True)),
                "versions": ", ".join(sorted({SESSIONS[o.session][0] for o in found})),
                "first": shown_time(min(o.second for o in found)),
                "last": shown_time(latest.second),
            }
        )
    if sort == "recent":
        rows.sort(key=lambda r: (r["last"], r["fingerprint"]), reverse=True)
    else:
        rows.sort(key=lambda r: (int(r["occurrences"]), r["fingerprint"]), reverse=True)
    return rows


@pytest.fixture(scope="module")
def world(http: httpx.Client, seeded: Seeded) -> Iterator[dict[str, str]]:
    """This module's sessions, seeded once per backend; their ids by key.

    Their fatal exceptions crash them, and the other web tests' model of the shared
    server knows no such sessions (the browser's ``status=crashed`` filter, the dashboard's
    counts): they are deleted when this module is done."""
    ids = {}
    for key, (version, host) in SESSIONS.items():
        body = {"product": PRODUCT, "version": version, "host": host}
        ids[key] = http.post("/api/sessions", json=body).json()["session_id"]
    items = [
        {
            "op": "event",
            "session_id": ids[o.session],
            "name": "exception",
            "data": o.data,
            "timestamp": when(o.second),
        }
        for o in SEEDED
    ]
    answer = http.post("/api/batch", json={"items": items})
    assert answer.status_code == 200, answer.text
    yield ids
    for session_id in ids.values():
        assert http.delete(f"/api/sessions/{session_id}").status_code == 200


def rows_of(body: str) -> list[dict[str, str]]:
    """The groups table's rows as the model writes them."""
    rows = []
    for fingerprint, cells in re.findall(
        r'<tr data-fingerprint="([0-9a-f]{32})">(.*?)</tr>', body, re.S
    ):
        found = dict(re.findall(r'<td class="c-([a-z]+)">(?:<a [^>]*>)?([^<]*)', cells))
        times = re.findall(r'<td class="mono small">([^<]*)</td>', cells)
        rows.append(
            {
                "fingerprint": fingerprint,
                "type": html.unescape(found["type"]),
                "message": html.unescape(found["message"]),
                "occurrences": found["occurrences"],
                "sessions": found["sessions"],
                "fatal": found["fatal"],
                "versions": found["versions"],
                "first": times[0],
                "last": times[1],
            }
        )
    return rows


def all_pages(http: httpx.Client, url: str) -> tuple[list[dict[str, str]], int]:
    """Every row by following the "Next page" links; and how many pages that took."""
    rows: list[dict[str, str]] = []
    pages = 0
    next_url: str | None = url
    while next_url is not None and pages < 10:
        answer = http.get(next_url)
        assert answer.status_code == 200, answer.text
        pages += 1
        rows += rows_of(answer.text)
        found = re.search(r'id="next-page" href="([^"]+)"', answer.text)
        next_url = html.unescape(found.group(1)) if found else None
    return rows, pages


@pytest.mark.parametrize("sort", ["recent", "frequent"])
def test_groups_table_pages_through_the_model(
    http: httpx.Client, world: dict[str, str], sort: str
) -> None:
    rows, pages = all_pages(http, f"/exceptions?product={PRODUCT}&sort={sort}")
    assert pages == 2  # 53 groups, 50 a page: no duplicates, no gaps, in order
    assert rows == model(sort)


def test_fatal_filter_and_escaped_messages(http: httpx.Client, world: dict[str, str]) -> None:
    answer = http.get("/exceptions", params={"product": PRODUCT, "fatal": "true"})
    assert answer.status_code == 200
    assert rows_of(answer.text) == model(fatal=True)
    body = http.get("/exceptions", params={"product": PRODUCT, "version": "1.1"}).text
    assert html.escape(HOSTILE, quote=False) in body and HOSTILE not in body


def test_a_group_page_shows_its_traceback_and_every_occurrence(
    http: httpx.Client, world: dict[str, str]
) -> None:
    url = f"/exceptions/{KEYS['X']}"
    body = http.get(url).text
    xs = sorted((o for o in SEEDED if o.group == "X"), key=lambda o: o.second, reverse=True)
    latest = xs[0].data
    # Frames of the latest occurrence, the app's own marked (judged by path: none sent).
    frames = re.findall(r'<tr class="[^"]*" data-in-app="(true|false)">', body)
    assert frames == ["true", "false"]
    assert latest["traceback"][1] in html.unescape(body)
    seen: list[tuple[str, str]] = []
    pages = 0
    next_url: str | None = url
    while next_url is not None and pages < 10:
        page = http.get(next_url)
        assert page.status_code == 200
        pages += 1
        seen += re.findall(
            r'<td class="mono">([^<]*)</td>\s*'
            r'<td><a class="mono c-session" href="/sessions/([^"]+)"',
            page.text,
        )
        found = re.search(r'id="next-page" href="([^"]+)"', page.text)
        next_url = html.unescape(found.group(1)) if found else None
    assert pages == 2
    assert seen == [(shown_time(o.second), world[o.session]) for o in xs]


def test_a_seed_style_group_without_frames_shows_its_lines(
    http: httpx.Client, world: dict[str, str]
) -> None:
    body = http.get(f"/exceptions/{KEYS['Y']}").text
    assert re.findall(r'data-in-app="(true|false)"', body) == ["true"]
    assert f"main_{TOKEN}" in body and HOSTILE not in body


def test_the_session_page_links_its_exceptions_to_their_groups(
    http: httpx.Client, world: dict[str, str]
) -> None:
    body = http.get(f"/sessions/{world['w2']}").text
    linked = set(
        re.findall(r'class="exception-group small" href="/exceptions/([0-9a-f]{32})"', body)
    )
    assert linked == {KEYS["X"], KEYS["Y"]}
    group = http.get(f"/exceptions/{KEYS['Y']}")
    assert group.status_code == 200 and f'href="/sessions/{world["w2"]}"' in group.text


@pytest.mark.parametrize(
    ("path", "status", "named"),
    [
        (f"/exceptions/{'0' * 32}", 404, "No exception has the fingerprint"),
        ("/exceptions/not-a-fingerprint", 422, "32 lowercase hex digits"),
        (f"/exceptions/{'0' * 32}?cursor=abc", 422, "cursor"),
        ("/exceptions?cursor=abc", 422, "cursor"),
        ("/exceptions?product=a%00b", 422, "NUL"),
        ("/exceptions?sort=oldest", 422, "sort must be"),
    ],
)
def test_bad_input_is_a_page_naming_it(
    http: httpx.Client, path: str, status: int, named: str
) -> None:
    answer = http.get(path, headers={"Accept": "text/html"})
    assert answer.status_code == status
    assert named in answer.text and "<h1>" in answer.text


def test_no_inline_script_or_style(http: httpx.Client, world: dict[str, str]) -> None:
    for path in ("/exceptions", f"/exceptions/{KEYS['X']}"):
        body = http.get(path).text
        assert " style=" not in body and "<style" not in body
        assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", body))


@pytest.mark.browser
def test_exceptions_pages_in_the_browser(page: Any, world: dict[str, str]) -> None:
    page.goto("/")
    page.click("nav a[href='/exceptions']")
    page.wait_for_url("**/exceptions")
    page.fill("#exception-filters input[name=product]", PRODUCT)
    page.wait_for_url(re.compile(r"product="))
    page.select_option("#exception-filters select[name=sort]", "frequent")
    page.wait_for_url(re.compile(r"sort=frequent"))
    assert query_of(page) == {"product": PRODUCT, "sort": "frequent"}
    want = [r["fingerprint"] for r in model("frequent")][:50]
    got = page.eval_on_selector_all(
        "#exception-groups-table tbody tr", "rows => rows.map(r => r.dataset.fingerprint)"
    )
    assert got == want
    page.click(f"tr[data-fingerprint='{KEYS['X']}'] td.c-type a")
    page.wait_for_url(f"**/exceptions/{KEYS['X']}")
    assert page.locator("#exception-title").inner_text() == "ValueError"
    assert texts(page, "#frames tr.in-app td.c-function") == [f"parse_{TOKEN}"]
    assert page.locator("#frames tr.in-app .badge").count() == 1
    first = page.locator("#occurrences a.c-session").first
    target = first.get_attribute("title")
    first.click()
    page.wait_for_url(f"**/sessions/{target}")
    link = page.locator("a.exception-group").first
    assert link.get_attribute("href", timeout=5000) is not None
