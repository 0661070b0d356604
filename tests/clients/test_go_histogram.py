"""The Go client's pre-aggregated histograms (``clients/go``), against a real server.

Its own histogram tests (``go test -run Histogram``: the wire form, refusals before
sending, and every entry point read back with its percentiles) run against the server; then
the histogram example in clients/go/README.md is built as a program of its own — a module
that requires the client through a ``replace`` to this checkout, as the README's install
section says — and run, and what it sent is read back over the HTTP API: the mean as the
stored value, and a p50 that interpolates within its buckets (by hand and by
``datacat.histogram.quantile``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_go_client import GO_MODULE, go_binary, go_env, run, shown

from datacat.histogram import cells_from_buckets, quantile
from support import serve

README_URL = "http://localhost:8080"
# The README example's frame times, 6 + frame % 30 ms for 1000 frames, in its buckets.
README_BUCKETS = [(8.0, 102), (16.7, 271), (33.3, 561), (None, 66)]
README_MEAN = sum(6.0 + frame % 30 for frame in range(1000)) / 1000
GO_TESTS = (
    "TestHistogramWireForm",
    "TestHistogramRefusedBeforeSending",
    "TestIntegrationHistogram",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("go-histogram") / "go.db"
    with serve(f"sqlite+aiosqlite:///{path}") as url:
        yield url


def readme_program() -> str:
    blocks = (GO_MODULE / "README.md").read_text().split("```go\n")[1:]
    code = [block.split("```", 1)[0] for block in blocks]
    return next(c for c in code if c.startswith("package main") and ".Histogram(" in c)


def series(url: str, session_id: str, aggregation: str) -> float:
    query = {"name": "frame_ms", "aggregation": aggregation, "session_id": session_id}
    answer = httpx.get(f"{url}/api/metrics/series", params=query, timeout=30)
    answer.raise_for_status()
    points = answer.json()["points"]
    assert len(points) == 1, points
    return float(points[0]["value"])


def test_go_histogram_tests_against_a_real_server(server: str, tmp_path: Path) -> None:
    go = go_binary()
    test = run(
        [go, "test", "-count=1", "-v", "-run", "Histogram", "./client"], go_env(server, tmp_path)
    )
    assert test.returncode == 0, "go test failed\n" + shown(test)
    for name in GO_TESTS:  # each ran (DATACAT_TEST_URL was set) and passed
        assert f"--- PASS: {name} " in test.stdout, shown(test)
    assert "--- SKIP" not in test.stdout, shown(test)


def test_readme_histogram_example(server: str, tmp_path: Path) -> None:
    go = go_binary()
    env = go_env(server, tmp_path)
    program = tmp_path / "program"
    program.mkdir()
    code = readme_program()
    assert README_URL in code
    (program / "main.go").write_text(code.replace(README_URL, server))
    (program / "go.mod").write_text(
        "module example.com/histogram\n\ngo 1.19\n\n"
        "require github.com/datacat/datacat/clients/go v0.0.0\n\n"
        f"replace github.com/datacat/datacat/clients/go => {GO_MODULE}\n"
    )
    gofmt = shutil.which("gofmt") or str(Path(go).with_name("gofmt"))
    unformatted = subprocess.run(
        [gofmt, "-l", "main.go"], cwd=program, capture_output=True, text=True
    )
    assert unformatted.stdout == "", "the README's example is not gofmt-formatted"
    binary = tmp_path / "histogram"
    build = subprocess.run(
        [go, "build", "-o", str(binary), "."], cwd=program, env=env, capture_output=True, text=True
    )
    assert build.returncode == 0, "go build failed\n" + shown(build)
    ran = subprocess.run([str(binary)], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, shown(ran)
    session_id = ran.stdout.split()[-1]

    session = httpx.get(f"{server}/api/sessions/{session_id}", timeout=30).json()
    assert session["status"] == "ended"
    [frame_ms] = session["metrics"]
    assert (frame_ms["name"], frame_ms["kind"], frame_ms["unit"]) == ("frame_ms", "histogram", "ms")
    assert frame_ms["value"] == pytest.approx(README_MEAN)
    # Rank 500: 373 observations up to 16.7, then 127 of the 561 in (16.7, 33.3].
    p50 = series(server, session_id, "p50")
    assert p50 == pytest.approx(16.7 + 16.6 * 127 / 561)
    assert p50 == pytest.approx(quantile(50, cells_from_buckets(README_BUCKETS)))
    assert series(server, session_id, "p99") == pytest.approx(33.3)  # in +Inf: its lower bound
    assert series(server, session_id, "count") == 1000
