"""schemathesis against a real server on each backend: no input may produce a 500."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support import serve


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_no_generated_request_yields_a_server_error(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    schemathesis = Path(sys.executable).parent / "schemathesis"
    url = database_url if backend == "postgresql" else f"sqlite+aiosqlite:///{tmp_path}/fuzz.db"
    with serve(url) as base:
        result = subprocess.run(
            [
                str(schemathesis),
                "run",
                f"{base}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "40",
                "--seed",
                "20261128",
                "--generation-allow-x00",
                "true",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Server error" not in result.stdout
