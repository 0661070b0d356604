"""The Releases page and the session browser's issue-12 filters, on the seeded server.

Expected figures come from the seed's specs (``webseed``): the products ``probe-app`` and
``svc-worker`` (version 1.0.0) are ones no other web test adds sessions to. Plain-HTTP
checks run on both backends; the browser one (Chromium: table and drawn sparklines) on
SQLite, as the web suite does for pages whose figures the HTTP checks already pin.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pagehelp import session_ids
from webseed import Seeded

from support import eventually

PRODUCTS = ("probe-app", "svc-worker")


def expected_row(seeded: Seeded, product: str) -> dict[str, str]:
    specs = [s for s in seeded.specs.values() if s.product == product]
    counts = Counter(s.status for s in specs)
    total = len(specs)
    return {
        "sessions": str(total),
        "crash-free": f"{100 * (total - counts['crashed']) / total:.1f}%",
        "hang-free": f"{100 * (total - counts['hung']) / total:.1f}%",
        "ended": str(counts["ended"]),
        "crashed": str(counts["crashed"]),
        "hung": str(counts["hung"]),
        "abandoned": str(counts["abandoned"]),
    }


def cells(body: str, product: str) -> dict[str, str]:
    row = re.search(rf'<tr data-product="{product}" data-version="1.0.0">(.*?)</tr>', body, re.S)
    assert row, f"no row for {product}"
    return dict(re.findall(r'<td class="c-([a-z-]+)">([^<]*)</td>', row.group(1)))


@pytest.fixture(scope="module")
def web(http: httpx.Client, seeded: Seeded) -> httpx.Client:
    return http


@pytest.mark.parametrize("product", PRODUCTS)
def test_release_rows_show_the_seeded_figures(
    web: httpx.Client, seeded: Seeded, product: str
) -> None:
    answer = web.get("/releases", params={"product": product})
    assert answer.status_code == 200
    shown = cells(answer.text, product)
    median = shown.pop("median")
    assert shown == expected_row(seeded, product)
    api = web.get("/api/releases", params={"product": product}).json()["items"][0]
    assert median == f"{api['median_duration_s']:.1f}s"
    # One release per product here: the filter leaves the others out.
    assert answer.text.count("<tr data-product=") == 1


def test_all_products_and_escaped_versions(web: httpx.Client, seeded: Seeded) -> None:
    body = web.get("/releases").text
    for product in PRODUCTS:
        shown = cells(body, product)
        shown.pop("median")
        assert shown == expected_row(seeded, product)
    xss = seeded.specs["xss"]
    for text in (xss.version, xss.product):
        assert html.escape(text, quote=False) in body
        assert text not in body


def test_nul_is_a_clear_422(web: httpx.Client) -> None:
    answer = web.get("/releases?product=a%00")
    assert answer.status_code == 422
    assert "NUL" in answer.text


def test_session_browser_filters_by_version_and_ever_hung(
    web: httpx.Client, seeded: Seeded
) -> None:
    def ids(query: str) -> set[str]:
        return set(re.findall(r'title="([0-9a-f-]{36})"', web.get(f"/sessions?{query}").text))

    hung = {seeded.ids[k] for k, s in seeded.specs.items() if s.status == "hung"}
    assert ids("product=svc-worker&ever_hung=true") == hung
    xss = seeded.specs["xss"]
    assert ids(f"version={quote(xss.version)}") == {seeded.ids[xss.key]}
    assert ids("product=probe-app&event=exception") == {
        seeded.ids[k]
        for k, s in seeded.specs.items()
        if s.product == "probe-app" and any(name == "exception" for name, _ in s.events)
    }
    assert ids("product=probe-app&q=EXCEPT") == ids("product=probe-app&event=exception")


@pytest.mark.browser
def test_releases_page_in_the_browser(page: Any, seeded: Seeded, http: httpx.Client) -> None:
    page.goto("/")
    page.click("nav a[href='/releases']")
    page.wait_for_url("**/releases")
    for product in PRODUCTS:
        row = f"#releases tr[data-product='{product}'][data-version='1.0.0']"
        want = expected_row(seeded, product)
        for key, value in want.items():
            assert page.locator(f"{row} td.c-{key}").inner_text() == value, (product, key)
        canvas = page.locator(f"{row} canvas").get_attribute("id")
        days = len(
            http.get("/api/releases", params={"product": product}).json()["items"][0]["daily"]
        )
        drawn = eventually(
            lambda c=canvas: page.evaluate(
                "id => { const c = (window.datacatCharts || {})[id];"
                " return c ? c.data.datasets[0].data : null; }",
                c,
            )
        )
        total = int(want["sessions"])
        crashed = int(want["crashed"])
        if days == 1:
            assert drawn == [round(100 * (total - crashed) / total, 2)]
        else:
            assert len(drawn) == days
    # The version links to the session browser filtered to it.
    page.click("#releases tr[data-product='svc-worker'] td:nth-child(2) a")
    page.wait_for_url("**/sessions?*")
    svc = {seeded.ids[k] for k, s in seeded.specs.items() if s.product == "svc-worker"}
    eventually(lambda: set(session_ids(page)), svc)
    assert page.input_value("#filters input[name=version]") == "1.0.0"


def _logged(seeded: Seeded, predicate: Any) -> set[str]:
    return {
        seeded.ids[key]
        for key, spec in seeded.specs.items()
        if any(predicate(name) for name, _ in spec.events)
    }


@pytest.mark.browser
def test_session_browser_form_has_the_new_filters(page: Any, seeded: Seeded) -> None:
    page.goto("/sessions")
    page.check("#filters input[name=ever_hung]")
    eventually(
        lambda: set(session_ids(page)), _logged(seeded, lambda n: n == "application_appears_hung")
    )
    page.uncheck("#filters input[name=ever_hung]")
    page.fill("#filters input[name=q]", "EXCEPT")
    eventually(lambda: set(session_ids(page)), _logged(seeded, lambda n: "except" in n.lower()))
    page.fill("#filters input[name=q]", "")
    page.fill("#filters input[name=event]", "exception")
    eventually(lambda: set(session_ids(page)), _logged(seeded, lambda n: n == "exception"))
    page.fill("#filters input[name=version]", "9.9")
    eventually(lambda: session_ids(page), [])
    # The URL carries them, so the view can be shared.
    eventually(lambda: "event=exception" in page.url and "version=9.9" in page.url)
