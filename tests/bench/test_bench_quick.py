"""``python -m bench --quick`` runs every measure end to end on tiny sizes.

Benchmarks are not unit tests: the figures at these sizes mean nothing, so this only
proves that each measure still starts its server, loads its data, drives wrk and prints a
JSON line with numbers — the kind of rot a benchmark suite otherwise collects unnoticed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "a_event_post": ("req_per_s", "p50_ms", "p99_ms"),
    "a_metric_post": ("req_per_s", "p50_ms", "p99_ms"),
    "b_batch_events": ("events_per_s", "events_per_s_with_ids", "p99_ms"),
    "d_session_get_10k": ("p50_ms", "p99_ms", "response_bytes"),
    "e_export_1000x100": ("p50_ms", "peak_rss_mb", "response_bytes"),
    "f_series_state_filter": ("p50_ms", "p99_ms", "points_matched"),
    "g_footprint_1m_events": ("rss_mb", "bytes_per_event", "db_bytes"),
}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (make system-deps)")
def test_quick_benchmarks_print_every_measure_with_numbers(tmp_path: Path) -> None:
    table = tmp_path / "quick.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(table)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [json.loads(text) for text in done.stdout.splitlines() if text.startswith("{")]
    by_name = {line["measure"]: line for line in lines}
    assert not [line for line in lines if "error" in line]
    for measure, keys in EXPECTED.items():
        line = by_name.get(measure)
        assert line is not None, f"no JSON line for {measure}"
        for key in keys:
            assert _number(line.get(key)), f"{measure}.{key} = {line.get(key)!r}"
        assert line["cores"] and line["target"]
        assert isinstance(line["met"], bool)
    if (ROOT / "bench" / "client_overhead.py").exists():
        client = [line for line in lines if "client_call_us" in line]
        assert client and _number(client[0]["metrics_per_s_end_to_end"])
    text = table.read_text()
    assert "| measure | target | measured | met? |" in text
    for measure in EXPECTED:
        assert f"| {measure} |" in text
