"""Escaping, dark theme and laptop width, checked in Chromium.

Logged strings must show as text: the ``page`` fixture fails any test whose page opens a
dialog, so an ``alert`` that ran would fail here even if the text checks passed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from pagehelp import texts
from webseed import XSS, XSS_METRIC, XSS_STATE, Seeded

pytestmark = pytest.mark.browser


def test_logged_html_shows_as_text(page: Any, seeded: Seeded) -> None:
    session_id = seeded.ids["xss"]
    page.goto(f"/sessions/{session_id}")
    assert page.get_by_test_id("product").inner_text() == XSS
    assert texts(page, "#events .event-name") == [XSS]
    assert XSS_STATE in page.locator("#state-tree").inner_text()
    assert page.locator("#state-tree img, #events script, #session-head script").count() == 0
    # The metric name sits in the chart's JSON <script>; it must not end that block.
    assert page.locator("figure[data-metric]").first.get_attribute("data-metric") == XSS_METRIC
    assert page.evaluate("window.datacatCharts['chart-1'].data.datasets[0].label") == XSS_METRIC

    page.goto("/sessions?product=" + quote(XSS))
    assert XSS in page.locator("#sessions tbody").inner_text()
    page.goto("/metrics?name=" + quote(XSS_METRIC))
    assert page.get_by_test_id("points").inner_text() == "2"
    assert XSS_METRIC in page.locator("#metric-name").inner_text()


def test_script_in_the_url_is_text(page: Any) -> None:
    page.goto("/sessions?product=" + quote(XSS) + "&state_path=" + quote('"><svg onload=alert(3)>'))
    page.goto("/sessions/" + quote("<img src=x onerror=alert(4)>", safe=""))
    assert "<img src=x onerror=alert(4)>" in page.locator("main").inner_text()


def _background_luminance(page: Any) -> float:
    rgb = page.evaluate(
        "getComputedStyle(document.body).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number)"
    )
    return sum(rgb) / (3 * 255)


@pytest.mark.parametrize("where", ["/", "/sessions", "detail", "/metrics?name=memory_usage"])
def test_dark_scheme(open_page: Callable[..., Any], seeded: Seeded, where: str) -> None:
    """The same page in dark and light: dark is dark, and text stays readable on it."""
    url = f"/sessions/{seeded.ids['s1']}" if where == "detail" else where
    dark = open_page(color_scheme="dark")
    dark.goto(url)
    light = open_page(color_scheme="light")
    light.goto(url)
    assert _background_luminance(dark) < 0.25 < 0.75 < _background_luminance(light)
    text = dark.evaluate(
        "getComputedStyle(document.querySelector('main')).color.match(/\\d+/g).map(Number)"
    )
    assert sum(text[:3]) / (3 * 255) > 0.6, "dark theme text should be light"


@pytest.mark.parametrize("where", ["/", "/sessions", "detail", "/metrics?name=memory_usage"])
def test_no_horizontal_overflow_at_1280(page: Any, seeded: Seeded, where: str) -> None:
    url = f"/sessions/{seeded.ids['xss']}" if where == "detail" else where
    page.goto(url)
    assert page.viewport_size["width"] == 1280
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
