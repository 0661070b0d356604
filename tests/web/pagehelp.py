"""Small helpers the browser tests share: reading tables, URLs, inputs and charts."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlparse


def session_ids(page: Any) -> list[str]:
    """Full ids of the rows in the session browser's table, top to bottom."""
    return page.eval_on_selector_all(
        "#sessions tbody tr td:first-child a", "links => links.map(a => a.title)"
    )


def texts(page: Any, selector: str) -> list[str]:
    return [text.strip() for text in page.locator(selector).all_inner_texts()]


def query_of(page: Any) -> dict[str, str]:
    """The page URL's non-empty query parameters."""
    parsed = parse_qs(urlparse(page.url).query)
    return {key: values[-1] for key, values in parsed.items() if values[-1]}


def local_input(moment: datetime) -> str:
    """A datetime-local input's value (UTC wall clock), as Chromium normalises it."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text[:-3] if text.endswith(":00") else text


def chart_points(page: Any, canvas_id: str) -> int:
    """How many points Chart.js drew on a canvas (app.js keeps every chart by canvas id)."""
    return page.evaluate(
        "id => { const c = (window.datacatCharts || {})[id];"
        " return c ? c.data.datasets[0].data.length : -1; }",
        canvas_id,
    )
