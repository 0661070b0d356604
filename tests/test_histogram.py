"""Histogram bodies and bucket percentiles (``datacat.histogram``), with plain asserts.

The expected quantiles come from an independent statement of the rule: a piecewise-linear
cumulative distribution (buckets spread evenly over their interval, points as steps),
inverted by bisection — not from the module's walk over cumulative counts.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacat.histogram import MAX_BUCKETS, MAX_COUNT, Cell, cells_from_buckets, problem, quantile


def model_quantile(percent: float, cells: list[Cell], points: list[tuple[float, float]]) -> float:
    """The smallest x whose cumulative count reaches the rank, by bisection over x; the
    +Inf bucket's mass sits on its lower bound (what Prometheus answers inside it)."""
    total = sum(c.count for c in cells) + sum(n for _, n in points)
    rank = percent / 100 * total

    def cdf(x: float) -> float:
        below = 0.0
        for cell in cells:
            if cell.upper is None:
                below += cell.count if x >= cell.lower else 0.0
            elif cell.upper == cell.lower or x >= cell.upper:
                below += cell.count if x >= cell.upper else 0.0
            elif x > cell.lower:
                below += cell.count * (x - cell.lower) / (cell.upper - cell.lower)
        below += sum(n for v, n in points if v <= x)
        return below

    bounds = [c.lower for c in cells] + [c.upper for c in cells if c.upper is not None]
    bounds += [v for v, _ in points]
    low, high = min(bounds) - 1.0, max(bounds) + 1.0
    for _ in range(200):
        middle = (low + high) / 2
        if cdf(middle) >= rank:
            high = middle
        else:
            low = middle
    return high


def test_a_frame_time_histogram() -> None:
    cells = cells_from_buckets([(16.7, 950), (33.3, 40), (None, 10)])
    assert cells == [Cell(0.0, 16.7, 950), Cell(16.7, 33.3, 40), Cell(33.3, None, 10)]
    assert quantile(50, cells) == pytest.approx(16.7 * 500 / 950)
    assert quantile(95, cells) == pytest.approx(16.7 * 950 / 950)
    assert quantile(99, cells) == pytest.approx(16.7 + 16.6 * 40 / 40)
    # The rank 995 lies in +Inf: its lower bound answers.
    assert quantile(99.5, cells) == 33.3


def test_lowest_bucket_below_zero_is_a_point() -> None:
    assert quantile(50, cells_from_buckets([(-5.0, 4), (5.0, 4)])) == -5.0
    assert quantile(75, cells_from_buckets([(-5.0, 4), (5.0, 4)])) == pytest.approx(0.0)


def test_points_mix_in_as_point_masses() -> None:
    cells = cells_from_buckets([(10.0, 2), (20.0, 2)])
    # Order: (0,10]x2, point 12, (10,20]x2, point 30: total 6.
    points = [(12.0, 1.0), (30.0, 1.0)]
    assert quantile(50, cells, points) == 12.0  # rank 3 lands on the point
    assert quantile(60, cells, points) == pytest.approx(10 + 10 * (3.6 - 3) / 2)
    assert quantile(99, cells, points) == 30.0


def test_empty() -> None:
    assert quantile(50, []) is None
    assert quantile(50, cells_from_buckets([(1.0, 0)])) is None


@settings(max_examples=300, deadline=None)
@given(
    les=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=8, unique=True).map(
        sorted
    ),
    counts=st.lists(st.integers(0, 50), min_size=9, max_size=9),
    inf=st.integers(0, 20),
    points=st.lists(st.tuples(st.floats(-1e3, 1e3), st.integers(1, 3)), max_size=5),
    percent=st.sampled_from([50, 90, 95, 99]),
)
def test_against_the_model(
    les: list[float], counts: list[int], inf: int, points: list[tuple[float, int]], percent: int
) -> None:
    buckets: list[tuple[float | None, float]] = [(le, counts[i]) for i, le in enumerate(les)]
    buckets.append((None, inf))
    cells = cells_from_buckets(buckets)
    fpoints = [(v, float(n)) for v, n in points]
    got = quantile(percent, cells, fpoints)
    if sum(c.count for c in cells) + sum(n for _, n in fpoints) == 0:
        assert got is None
        return
    assert got is not None
    expected = model_quantile(percent, cells, fpoints)
    assert got == pytest.approx(expected, abs=1e-6, rel=1e-6)


GOOD = [(16.7, 950), (33.3, 40), (None, 10)]


@pytest.mark.parametrize(
    ("buckets", "total", "count", "field", "words"),
    [
        (GOOD, 12345.6, 1000, None, None),
        ([(1.0, MAX_COUNT)], 1.0, MAX_COUNT, None, None),
        ([(1.0, MAX_COUNT + 1)], 1.0, MAX_COUNT + 1, "buckets[0].count", "at most"),
        ([], 1.0, 0, "buckets", "at least one"),
        ([(float(i), 1) for i in range(MAX_BUCKETS + 1)], 1.0, MAX_BUCKETS + 1, "buckets", "64"),
        ([(1.0, 1), (1.0, 1)], 1.0, 2, "buckets[1].le", "increase"),
        ([(2.0, 1), (1.0, 1)], 1.0, 2, "buckets[1].le", "increase"),
        ([(None, 1), (1.0, 1)], 1.0, 2, "buckets[0].le", "last"),
        ([(math.inf, 1)], 1.0, 1, "buckets[0].le", "finite"),
        ([(1.0, -1), (None, 2)], 1.0, 1, "buckets[0].count", "negative"),
        (GOOD, 1.0, 999, "count", "sum of the bucket counts"),
        (GOOD, None, 1000, "sum", "required"),
        (GOOD, 1.0, None, "count", "required"),
        (GOOD, math.inf, 1000, "sum", "finite"),
        (GOOD, math.nan, 1000, "sum", "finite"),
    ],
)
def test_problem_names_the_field(
    buckets: list[tuple[float | None, int]],
    total: float | None,
    count: int | None,
    field: str | None,
    words: str | None,
) -> None:
    found = problem(buckets, total, count)
    if field is None:
        assert found is None
        return
    assert found is not None
    assert found.field == field
    assert words is not None and words in found.message
