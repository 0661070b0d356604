"""The Events page (``/events``): every session's events, searched, on the seeded server.

Expected rows come from the seed's specs (``webseed``): the names ``tick`` and
``exception`` are only logged by the seed, in one product each. Plain-HTTP checks run on
both backends; the browser one (htmx form, URL, nav link) on SQLite, as the web suite does
for pages whose results the HTTP checks already pin.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from pagehelp import texts
from webseed import Seeded

from support import eventually


@pytest.fixture(scope="module")
def web(http: httpx.Client, seeded: Seeded) -> httpx.Client:
    return http


def seeded_events(seeded: Seeded, product: str, name: str) -> list[str]:
    """The session id of each seeded event so named in the product, one per event."""
    return [
        seeded.ids[key]
        for key, spec in seeded.specs.items()
        if spec.product == product
        for logged, _ in spec.events
        if logged == name
    ]


def shown(body: str) -> list[tuple[str, str]]:
    """(name, session id) of each row, top to bottom."""
    rows = re.findall(r'<td class="c-name">([^<]*)</td>.*?title="([0-9a-f-]{36})"', body, re.S)
    return [(name, sid) for name, sid in rows]


@pytest.mark.parametrize(
    ("params", "product", "name"),
    [
        ({"product": "svc-worker", "name": "tick"}, "svc-worker", "tick"),
        ({"product": "svc-worker", "q": "TiCk", "level": "info"}, "svc-worker", "tick"),
        ({"product": "probe-app", "q": "exception"}, "probe-app", "exception"),
    ],
)
def test_rows_are_the_seeded_events(
    web: httpx.Client, seeded: Seeded, params: dict[str, str], product: str, name: str
) -> None:
    answer = web.get("/events", params=params)
    assert answer.status_code == 200
    expected = [(name, sid) for sid in seeded_events(seeded, product, name)]
    assert expected and shown(answer.text) == expected


def test_nothing_matching_says_so(web: httpx.Client) -> None:
    answer = web.get("/events", params={"product": "svc-worker", "name": "tick", "level": "error"})
    assert answer.status_code == 200
    assert "No events match" in answer.text and shown(answer.text) == []


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"level": "fatal"}, "level must be one of"),
        ({"q": "a\x00b"}, "NUL"),
        ({"cursor": "abc"}, "cursor"),
        ({"since": "yesterday"}, "since is not a date"),
    ],
)
def test_bad_input_is_a_422_page_naming_it(
    web: httpx.Client, params: dict[str, str], named: str
) -> None:
    answer = web.get("/events", params=params)
    assert answer.status_code == 422
    assert named in answer.text


@pytest.mark.browser
def test_events_page_in_the_browser(page: Any, seeded: Seeded) -> None:
    page.goto("/")
    page.click("nav a[href='/events']")
    page.wait_for_url("**/events")
    page.fill("#event-filters input[name=product]", "svc-worker")
    page.fill("#event-filters input[name=q]", "tick")
    ticks = seeded_events(seeded, "svc-worker", "tick")
    eventually(lambda: texts(page, "#events td.c-name"), ["tick"] * len(ticks))
    eventually(lambda: "q=tick" in page.url and "product=svc-worker" in page.url)
    page.select_option("#event-filters select[name=level]", "error")
    eventually(lambda: page.locator(".empty").count() == 1)
    eventually(lambda: "level=error" in page.url)
