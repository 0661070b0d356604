"""Metrics explorer in Chromium: the seed's examples, every aggregation and filter mode.

Expected stats come from the seeded specs through ``webseed.expected_series``, an
independent model of the query, never from the server.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pagehelp import chart_points, local_input, query_of
from webseed import Seeded, Spec, Stats, expected_series

from support import eventually

pytestmark = pytest.mark.browser


def _stats(page: Any) -> Stats:
    def card(test_id: str) -> str:
        found = page.get_by_test_id(test_id)
        return found.inner_text() if found.count() else "(none)"

    return Stats(
        card("sessions-matched"), card("peak"), card("average"), card("min"), card("points")
    )


def _specs(seeded: Seeded) -> list[Spec]:
    return list(seeded.specs.values())


def test_example_1_peak_memory_with_space_probe_open(page: Any, seeded: Seeded) -> None:
    page.goto("/metrics")
    page.click('a[data-example="1"]')
    expected = expected_series(
        _specs(seeded), "memory_usage", "peak", "contains", "window_state.open", "space probe"
    )
    # p1 (peak 250) and p2 (peak 420); p4 closed its window before the question was asked.
    assert expected == Stats("2", "420", "335", "250", "2")
    assert _stats(page) == expected
    assert chart_points(page, "series-chart") == 2
    points = page.evaluate("window.datacatCharts['series-chart'].data.datasets[0].data")
    assert sorted((p["y"], p["session"]) for p in points) == [
        (250, seeded.ids["p1"]),
        (420, seeded.ids["p2"]),
    ]


def test_example_2_cpu_of_running_applications(page: Any, seeded: Seeded) -> None:
    page.goto("/metrics")
    page.click('a[data-example="2"]')
    expected = expected_series(
        _specs(seeded), "cpu_usage", "all", "current", "application.status", "running"
    )
    # s1's three points and s2's two; s3 stopped.
    assert expected == Stats("2", "55", "31", "10", "5")
    assert _stats(page) == expected
    assert chart_points(page, "series-chart") == 5


def test_each_aggregation_and_mode(page: Any, seeded: Seeded) -> None:
    """Driven through the form: every change swaps #series with the right numbers."""
    specs = _specs(seeded)
    page.goto("/metrics")
    page.select_option("#metric-name", "memory_usage")
    seen: set[Stats] = set()
    for aggregation in ("all", "peak", "avg", "min"):
        page.select_option("#explorer select[name=aggregation]", aggregation)
        expected = expected_series(specs, "memory_usage", aggregation)
        eventually(lambda: _stats(page), expected)
        eventually(lambda: chart_points(page, "series-chart"), int(expected.points))
        seen.add(expected)
    page.fill("#explorer input[name=state_path]", "window_state.open")
    page.fill("#explorer input[name=state_value]", "space probe")
    for mode in ("current", "ever", "contains", "none"):
        page.select_option("#explorer select[name=state_mode]", mode)
        expected = expected_series(
            specs, "memory_usage", "min", mode, "window_state.open", "space probe"
        )
        eventually(lambda: _stats(page), expected)
        if int(expected.points):
            eventually(lambda: chart_points(page, "series-chart"), int(expected.points))
        else:
            assert page.locator("#series canvas").count() == 0
        seen.add(expected)
        assert query_of(page).get("state_mode") == mode
    assert len(seen) == 7, "each choice should change the answer on this data set"


def test_time_range(page: Any, seeded: Seeded) -> None:
    specs = _specs(seeded)
    moments = sorted(m for spec in specs for name, _, m in spec.points if name == "cpu_usage")
    since, until = moments[1], moments[4] + timedelta(seconds=1)
    page.goto("/metrics?name=cpu_usage")
    page.fill("#explorer input[name=since]", local_input(since))
    page.fill("#explorer input[name=until]", local_input(until))
    expected = expected_series(specs, "cpu_usage", since=since, until=until)
    assert expected.points == "4"
    eventually(lambda: _stats(page), expected)
    eventually(lambda: chart_points(page, "series-chart"), 4)
    page.reload()
    assert _stats(page) == expected


def test_state_filter_needs_path_and_value(page: Any, seeded: Seeded) -> None:
    """Half a filter is not silently applied: the page says what is missing."""
    page.goto("/metrics?name=cpu_usage&mode=current&path=application.status")
    assert "both a state path and a value" in page.get_by_test_id("hint").inner_text()
    assert _stats(page) == expected_series(_specs(seeded), "cpu_usage")
