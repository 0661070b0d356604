"""Every ``python`` snippet in the README's client section runs, unchanged but for the URL."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
CLIENT_SECTION = README.read_text().split("\n## Python client\n", 1)[1].split("\n## ", 1)[0]
SNIPPETS = re.findall(r"```python\n(.*?)```", CLIENT_SECTION, flags=re.S)


def test_the_doc_has_snippets() -> None:
    assert len(SNIPPETS) >= 6


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_snippet_runs(snippet: str, url: str) -> None:
    code = snippet.replace("http://localhost:8080", url)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_overhead_benchmark_runs_and_verifies(url: str) -> None:
    script = Path(__file__).resolve().parents[2] / "bench" / "client_overhead.py"
    result = subprocess.run(
        [sys.executable, str(script), url, "2000"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["measure"] == "client_call_us" and line["stored"] == 2000 and line["exactly_once"]
