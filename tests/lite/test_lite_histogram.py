"""The lite client's pre-aggregated histograms, under Python 2.7 and 3, on a real server.

What a histogram sent by ``Session.histogram`` / ``DatacatClient.log_histogram`` becomes
is read back over the HTTP API: the stored value is the mean, and the series' percentiles
interpolate within the buckets (checked against a hand-computed figure and
``datacat.histogram.quantile``). Buckets the server would refuse raise ``InvalidData``
before anything is sent. The histogram example in clients/python-lite/README.md runs too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_lite_client import (
    HERE,
    LITE_DIR,
    SEED_URL,
    finish,
    interpreter_params,
    result_of,
    run_script,
)

from datacat.histogram import cells_from_buckets, quantile
from support import serve

# Runs under Python 2.7 and 3: usage ``python SCRIPT LITE_DIR SERVER_URL``.
CHECKS = r"""
import json
import sys


def main():
    lite_dir, url = sys.argv[1:3]
    sys.path.insert(0, lite_dir)
    import datacat

    client = datacat.DatacatClient(url)
    session = datacat.Session(client, client.register_session(product="lite-histogram"))
    sent = {}  # metric name -> the body as sent, for what the server does not echo
    send = client._send

    def recording_send(method, path, data):
        if path.endswith("/metrics"):
            body = json.loads(data.decode("utf-8"))
            sent[body["name"]] = body
        return send(method, path, data)

    client._send = recording_send
    frames = [(16.7, 950), (33.3, 40), (None, 10)]
    session.histogram("frames", frames, 12345.6, tags=["scene:a"], unit="ms")
    wire = [{"le": 1, "count": 3}, {"le": float("inf"), "count": 1}]
    session.histogram("wire", wire, 10, count=4)
    client.log_histogram(
        session.session_id, "direct", [(0.5, 2), (1.5, 2)], 3.0,
        timestamp="2026-01-02T03:04:05Z", id="h-1",
    )
    session.histogram("idle", [(1.0, 0)], 0)
    bad = {
        "empty": ([], 0, {}),
        "mapping": ({1.0: 1}, 1, {}),
        "inf_not_last": ([(None, 1), (2.0, 1)], 1, {}),
        "decreasing": ([(2.0, 1), (1.0, 1)], 1, {}),
        "repeated": ([(1.0, 1), (1.0, 1)], 1, {}),
        "nan_le": ([(float("nan"), 1)], 1, {}),
        "minus_inf_le": ([(float("-inf"), 1)], 1, {}),
        "text_le": ([("1", 1)], 1, {}),
        "negative_count": ([(1.0, -1)], 1, {}),
        "float_count": ([(1.0, 1.5)], 1, {}),
        "bool_count": ([(1.0, True)], 1, {}),
        "huge_count": ([(1.0, 2**53 + 1)], 1, {}),
        "huge_total": ([(1.0, 2**53), (2.0, 1)], 1, {}),
        "count_mismatch": ([(1.0, 1), (2.0, 1)], 1, {"count": 3}),
        "nan_sum": ([(1.0, 1)], float("nan"), {}),
        "too_many": ([(float(i), 1) for i in range(65)], 1, {}),
        "not_a_pair": ([(1.0,)], 1, {}),
        "empty_unit": ([(1.0, 1)], 1, {"unit": ""}),
    }
    refused = {}
    for label, (buckets, total, options) in bad.items():
        try:
            session.histogram("refused", buckets, total, **options)
        except datacat.InvalidData as exc:
            refused[label] = str(exc)
        else:
            refused[label] = None
    out = {"session_id": session.session_id, "refused": refused, "sent": sent}
    sys.stdout.write("RESULT " + json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
"""

# Why each bad histogram is refused: a fragment of the InvalidData message.
REFUSALS = {
    "empty": "1..64 buckets, got 0",
    "mapping": "must be a list of (le, count) pairs, not dict",
    "inf_not_last": "only the last histogram bucket may be +Inf",
    "decreasing": "must strictly increase: 1.0 after 2.0",
    "repeated": "must strictly increase: 1.0 after 1.0",
    "nan_le": "bucket 0: le must be finite",
    "minus_inf_le": "bucket 0: le must be finite",
    "text_le": "bucket 0: le must be a number or None",
    "negative_count": "a count is an int 0..2**53, not -1",
    "float_count": "a count is an int 0..2**53, not 1.5",
    "bool_count": "a count is an int 0..2**53, not True",
    "huge_count": "a count is an int 0..2**53",
    "huge_total": "at most 2**53 observations",
    "count_mismatch": "count 3 is not the sum of its buckets (2)",
    "nan_sum": "sum must be finite",
    "too_many": "1..64 buckets, got 65",
    "not_a_pair": "bucket 0 must be an (le, count) pair",
    "empty_unit": "a metric unit must be a string of 1..64 characters",
}

# The README example's frame times, 6 + frame % 30 ms for 1000 frames, in its buckets.
README_BUCKETS = [(8.0, 102), (16.7, 271), (33.3, 561), (None, 66)]
README_MEAN = sum(6.0 + frame % 30 for frame in range(1000)) / 1000


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("lite-histogram") / "lite.db"
    with serve(f"sqlite+aiosqlite:///{db}") as base:
        yield base


def metrics(url: str, session_id: str) -> dict[str, dict[str, Any]]:
    page = httpx.get(f"{url}/api/sessions/{session_id}/metrics", timeout=30)
    page.raise_for_status()
    return {item["name"]: item for item in page.json()["items"]}


def series(url: str, session_id: str, name: str, aggregation: str) -> float:
    """The one session's point of ``GET /api/metrics/series``."""
    query = {"name": name, "aggregation": aggregation, "session_id": session_id}
    answer = httpx.get(f"{url}/api/metrics/series", params=query, timeout=30)
    answer.raise_for_status()
    points = answer.json()["points"]
    assert len(points) == 1, points
    return float(points[0]["value"])


def readme_example() -> str:
    blocks = (LITE_DIR / "README.md").read_text().split("```python\n")[1:]
    return next(block.split("```", 1)[0] for block in blocks if ".histogram(" in block)


@pytest.mark.parametrize("python", interpreter_params())
def test_histograms_are_stored_as_their_mean_and_bad_ones_refused(
    url: str, python: str, tmp_path: Path
) -> None:
    script = tmp_path / "histogram_checks.py"
    script.write_text(CHECKS)
    result = result_of(finish(run_script(python, str(script), str(LITE_DIR), url))[0])
    session_id = result["session_id"]

    stored = metrics(url, session_id)
    assert set(stored) == {"frames", "wire", "direct", "idle"}  # no refused one
    assert {name: m["kind"] for name, m in stored.items()} == dict.fromkeys(stored, "histogram")
    assert stored["frames"]["value"] == pytest.approx(12.3456)
    assert (stored["frames"]["unit"], stored["frames"]["tags"]) == ("ms", ["scene:a"])
    assert stored["wire"]["value"] == pytest.approx(2.5)
    assert stored["direct"]["value"] == pytest.approx(0.75)
    assert stored["direct"]["timestamp"] == "2026-01-02T03:04:05.000000Z"
    assert stored["idle"]["value"] == 0
    # The body carries the mean as its value too: a server without histograms stores that.
    sent = result["sent"]
    assert set(sent) == set(stored)
    assert sent["frames"]["buckets"] == [
        {"le": 16.7, "count": 950},
        {"le": 33.3, "count": 40},
        {"le": None, "count": 10},
    ]
    assert (sent["frames"]["sum"], sent["frames"]["count"]) == (12345.6, 1000)
    assert sent["frames"]["value"] == pytest.approx(12.3456)
    assert sent["wire"]["buckets"][-1] == {"le": None, "count": 1}  # float("inf") is +Inf
    assert (sent["idle"]["value"], sent["idle"]["count"]) == (0, 0)

    # 950 of 1000 observations in (0, 16.7]: ranks 500 and 900 interpolate there; rank
    # 990 ends (16.7, 33.3]. Each histogram counts `count` times, not once at its mean.
    frames = cells_from_buckets([(16.7, 950), (33.3, 40), (None, 10)])
    for aggregation, by_hand in (("p50", 16.7 * 500 / 950), ("p90", 16.7 * 900 / 950)):
        got = series(url, session_id, "frames", aggregation)
        assert got == pytest.approx(by_hand)
        assert got == pytest.approx(quantile(float(aggregation[1:]), frames))
    assert series(url, session_id, "frames", "p99") == pytest.approx(33.3)
    assert series(url, session_id, "frames", "count") == 1000
    # le 1 and +Inf: rank 2 of 4 lies in (0, 1]; the +Inf bucket answers its lower bound.
    assert series(url, session_id, "wire", "p50") == pytest.approx(2 / 3)
    assert series(url, session_id, "wire", "p99") == pytest.approx(1.0)

    refused = result["refused"]
    assert set(refused) == set(REFUSALS)
    for label, fragment in REFUSALS.items():
        assert refused[label] is not None, f"{label}: not refused"
        assert fragment in refused[label], (label, refused[label])


@pytest.mark.parametrize("python", interpreter_params())
def test_readme_histogram_example(url: str, python: str, tmp_path: Path) -> None:
    script = tmp_path / "readme_histogram.py"
    script.write_text(readme_example().replace(SEED_URL, url))
    runner = str(HERE / "run_example.py")
    out, _ = finish(run_script(python, runner, str(LITE_DIR), url, str(script)))
    result = result_of(out)
    assert Path(result["datacat_file"]).parent == LITE_DIR  # the lite module, not the package
    assert float(out.splitlines()[0]) == pytest.approx(README_MEAN)  # what it printed

    session_id = result["session_id"]
    [frame_ms] = metrics(url, session_id).values()
    assert (frame_ms["name"], frame_ms["kind"], frame_ms["unit"]) == ("frame_ms", "histogram", "ms")
    assert frame_ms["value"] == pytest.approx(README_MEAN)
    # Rank 500: 373 observations up to 16.7, then 127 of the 561 in (16.7, 33.3].
    p50 = series(url, session_id, "frame_ms", "p50")
    assert p50 == pytest.approx(16.7 + 16.6 * 127 / 561)
    assert p50 == pytest.approx(quantile(50, cells_from_buckets(README_BUCKETS)))
    assert series(url, session_id, "frame_ms", "p99") == pytest.approx(33.3)  # in +Inf
    assert series(url, session_id, "frame_ms", "count") == 1000
