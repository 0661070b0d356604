"""Pre-aggregated histograms from the Python client (``session.histogram``), on both faces,
batched and unbatched, read back through the series API of a real server: the observation
count, the sum and a percentile interpolated within the buckets."""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any

import httpx
import pytest

from datacat_client import AsyncSession, DatacatClient, InvalidData, Session
from support import FAST

BUCKETS: list[tuple[float | None, int]] = [(16.7, 950), (33.3, 40), (None, 10)]


def _statistic(raw: httpx.Client, name: str, session_id: str, aggregation: str) -> float:
    answer = raw.get(
        "/api/metrics/series",
        params={"name": name, "session_id": session_id, "aggregation": aggregation},
    )
    answer.raise_for_status()
    (point,) = answer.json()["points"]
    value: float = point["value"]
    return value


def _check(raw: httpx.Client, name: str, session_id: str) -> None:
    assert _statistic(raw, name, session_id, "count") == 1000 + 3
    assert _statistic(raw, name, session_id, "sum") == pytest.approx(12345.6 + 6.0)
    # Ranks 501.5 of 1003: inside (0, 16.7] (the plain points 1, 2, 3 come first).
    assert _statistic(raw, name, session_id, "p50") == pytest.approx(
        16.7 * (0.5 * 1003 - 3) / 950, rel=1e-6
    )


def _name() -> str:
    return f"frame_{uuid.uuid4().hex[:6]}"


@pytest.mark.parametrize("batching", [True, False], ids=["batched", "unbatched"])
def test_session_histogram(client: DatacatClient, raw: httpx.Client, batching: bool) -> None:
    name = _name()
    session = Session(client, client.register_session(), batching=batching, strict=True)
    session.histogram(name, BUCKETS, sum=12345.6, unit="ms")
    for value in (1, 2, 3):
        session.log_metric(name, value)
    assert session.flush(30)
    assert not session.errors
    _check(raw, name, session.session_id)


@pytest.mark.parametrize("batching", [True, False], ids=["batched", "unbatched"])
def test_async_session_histogram(url: str, raw: httpx.Client, batching: bool) -> None:
    name = _name()

    async def main() -> str:
        async with AsyncSession.create(url, batch=FAST, batching=batching, strict=True) as s:
            # The other spellings of the same buckets.
            await s.histogram(
                name,
                [
                    {"le": 16.7, "count": 950},
                    {"le": 33.3, "count": 40},
                    {"le": math.inf, "count": 10},
                ],
                sum=12345.6,
                count=1000,
            )
            for value in (1, 2, 3):
                await s.log_metric(name, value)
            await s.flush(30)
            assert not s.errors
            return s.session_id

    _check(raw, name, asyncio.run(main()))


@pytest.mark.parametrize(
    ("buckets", "more", "words"),
    [
        ([], {}, "1..64 buckets"),
        ([(float(i), 1) for i in range(65)], {}, "1..64 buckets"),
        ([(2.0, 1), (1.0, 1)], {}, "strictly increase"),
        ([(None, 1), (1.0, 1)], {}, "only the last"),
        ([(1.0, -1)], {}, "int 0..2"),
        ([(1.0, 1.5)], {}, "int 0..2"),
        ([(1.0, 2**53 + 1)], {}, "int 0..2"),
        (BUCKETS, {"count": 999}, "not the sum of its buckets"),
        (BUCKETS, {"sum": math.nan}, "finite"),
        ("16.7", {}, "must be a list or dict"),
    ],
)
def test_a_bad_histogram_is_refused_before_sending(
    client: DatacatClient, raw: httpx.Client, buckets: Any, more: dict[str, Any], words: str
) -> None:
    name = _name()
    strict = Session(client, client.register_session(), strict=True)
    arguments: dict[str, Any] = {"sum": 1.0} | more
    with pytest.raises(InvalidData, match=words):
        strict.histogram(name, buckets, **arguments)
    lenient = Session(client, client.register_session())
    lenient.histogram(name, buckets, **arguments)
    lenient.log_metric(name, 5)  # the batch still goes in
    assert lenient.flush(30)
    assert [words in str(error) for error in lenient.errors] == [True]
    assert _statistic(raw, name, lenient.session_id, "count") == 1
