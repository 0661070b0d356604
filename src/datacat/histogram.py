"""Pre-aggregated histograms: what a body may hold, and percentiles from bucket counts.

A client in a hot loop sends one metric per interval instead of one per observation::

    {"name": "frame_ms", "kind": "histogram",
     "buckets": [{"le": 16.7, "count": 950}, {"le": 33.3, "count": 40}, {"le": null, "count": 10}],
     "sum": 12345.6, "count": 1000}

Each bucket counts the observations in ``(previous le, le]`` (not cumulative: the counts add
up to ``count``); ``le`` null is +Inf. The store keeps the mean (``sum / count``) as the
row's value, so every old reader still sees one number, and the observation count beside it.

Percentiles follow Prometheus' ``histogram_quantile``: the rank ``q * total`` falls in the
first bucket whose cumulative count reaches it, and the answer is linear within that
bucket; the +Inf bucket answers its lower bound; the lowest bucket starts at 0 when its
``le`` is positive (else it is the point ``le``). Buckets of several histograms merged by
``le`` take the previous merged ``le`` as their lower bound, as Prometheus does.

Plain observations mixed into the same series are point masses in that distribution: the
answer is the smallest x whose cumulative count (buckets spread linearly over their
interval, each point a step at its value) reaches the rank, so a rank landing on a point
answers its value exactly and one inside a bucket interpolates as Prometheus does. A
series of plain observations alone never comes here: it keeps the exact percentile of
``datacat.store.metricquery``.

Pure functions, no I/O: the router checks bodies with :func:`problem`, the store sums
bucket counts in SQL (a few rows per group) and calls :func:`quantile` on them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_BUCKETS",
    "MAX_COUNT",
    "Cell",
    "HistogramProblem",
    "cells_from_buckets",
    "problem",
    "quantile",
]

MAX_BUCKETS = 64
"""Buckets per histogram body: Prometheus' defaults use 11 and OpenTelemetry's 16; 64 keeps
a batch of histograms small while leaving room for fine layouts."""


MAX_COUNT = 2**53
"""The largest observation count (per bucket and per histogram): exact as a double, so
sums of counts in SQL and here stay exact, and far inside the BIGINT columns."""


@dataclass(frozen=True, slots=True)
class HistogramProblem:
    """Why a histogram body is refused: ``field`` is the body's key the 422 names."""

    field: str
    message: str


def problem(
    buckets: Sequence[tuple[float | None, int]], total: float | None, count: int | None
) -> HistogramProblem | None:
    """The first thing wrong with a histogram's ``buckets`` (``(le, count)`` pairs in the
    body's order), ``sum`` and ``count``, or None when it may be stored."""
    if not buckets:
        return HistogramProblem("buckets", "must hold at least one bucket")
    if len(buckets) > MAX_BUCKETS:
        return HistogramProblem("buckets", f"at most {MAX_BUCKETS} buckets")
    previous: float | None = None
    for index, (le, n) in enumerate(buckets):
        where = f"buckets[{index}]"
        if le is None:
            if index != len(buckets) - 1:
                return HistogramProblem(f"{where}.le", "null (+Inf) only on the last bucket")
        elif not math.isfinite(le):
            return HistogramProblem(f"{where}.le", "must be a finite number or null (+Inf)")
        elif previous is not None and le <= previous:
            return HistogramProblem(f"{where}.le", "bucket bounds must strictly increase")
        if n < 0:
            return HistogramProblem(f"{where}.count", "must not be negative")
        if n > MAX_COUNT:
            return HistogramProblem(f"{where}.count", f"at most {MAX_COUNT}")
        previous = le
    if count is None:
        return HistogramProblem("count", "required with buckets")
    if total is None:
        return HistogramProblem("sum", "required with buckets")
    if not math.isfinite(total):
        return HistogramProblem("sum", "must be finite")
    if not 0 <= count <= MAX_COUNT:
        return HistogramProblem("count", f"must be 0 to {MAX_COUNT}")
    if sum(n for _, n in buckets) != count:
        return HistogramProblem("count", "must equal the sum of the bucket counts")
    return None


@dataclass(frozen=True, slots=True)
class Cell:
    """``count`` observations spread linearly over ``(lower, upper]``; a point mass when
    ``lower == upper``; ``upper`` None is the +Inf bucket."""

    lower: float
    upper: float | None
    count: float


def cells_from_buckets(buckets: Iterable[tuple[float | None, float]]) -> list[Cell]:
    """Merged ``(le, summed count)`` rows (any order) as cells, lower bounds filled in."""
    ordered = sorted(buckets, key=lambda b: (b[0] is None, b[0] if b[0] is not None else 0.0))
    cells: list[Cell] = []
    previous: float | None = None
    for le, n in ordered:
        if previous is None:
            lower = 0.0 if le is None or le > 0 else le
        else:
            lower = previous
        cells.append(Cell(lower, le, n))
        if le is not None:
            previous = le
    return cells


def quantile(
    percent: float, cells: Sequence[Cell], points: Iterable[tuple[float, float]] = ()
) -> float | None:
    """The ``percent`` (0-100) quantile of bucket ``cells`` (disjoint, as
    :func:`cells_from_buckets` makes them) plus plain ``points`` (``(value, how many)``):
    the smallest x where the cumulative count reaches ``percent / 100 * total``, buckets
    spread linearly over their interval, points (and the +Inf bucket, at its lower bound)
    as steps. None when there is nothing to count."""
    atoms: dict[float, float] = {}
    spans: list[Cell] = []
    for cell in cells:
        if cell.count <= 0:
            continue
        if cell.upper is None or cell.upper == cell.lower:
            atoms[cell.lower] = atoms.get(cell.lower, 0.0) + cell.count
        else:
            spans.append(cell)
    for value, n in points:
        if n > 0:
            atoms[value] = atoms.get(value, 0.0) + n
    total = math.fsum([*atoms.values(), *(cell.count for cell in spans)])
    if total <= 0:
        return None
    rank = percent / 100.0 * total
    starts = {cell.lower: cell for cell in spans}
    edges = sorted({*atoms, *starts, *(cell.upper for cell in spans if cell.upper is not None)})
    reached = 0.0
    open_span: Cell | None = None
    for index, edge in enumerate(edges):
        reached += atoms.get(edge, 0.0)
        if reached >= rank:
            return edge
        if open_span is not None and open_span.upper == edge:
            open_span = None
        open_span = starts.get(edge, open_span)
        if open_span is None or open_span.upper is None or index + 1 == len(edges):
            continue
        width = open_span.upper - open_span.lower
        following = edges[index + 1]
        mass = open_span.count * (following - edge) / width
        if reached + mass >= rank:
            return edge + (rank - reached) * width / open_span.count
        reached += mass
    return edges[-1]
