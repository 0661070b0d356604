"""The README's HTTP API section runs as written, against a real server.

Each ```bash block of the section runs in bash with ``set -euo pipefail`` and ``curl -f``
(so an HTTP error fails it), ``localhost:8080`` pointing at a fresh ``datacat serve`` and
``$SID`` naming a new session (product ``editor``, version ``2.1``). A comment of the form
``# ... TEXT ...`` after a command promises TEXT in the block's output, and is checked.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from support import serve

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = README.read_text().split("\n## HTTP API\n", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```bash\n(.*?)```", SECTION, flags=re.S)
PROMISE = re.compile(r"#\s*\.\.\.\s*(.+?)\s*\.\.\.\s*$", re.M)


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("readme") / "readme.db"
    with serve(f"sqlite+aiosqlite:///{path}") as url:
        yield url


def test_the_section_has_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_api_block_runs(server_url: str, block: str) -> None:
    created = httpx.post(f"{server_url}/api/sessions", json={"product": "editor", "version": "2.1"})
    session = created.json()["session_id"]
    host = server_url.removeprefix("http://")
    script = block.replace("localhost:8080", host).replace("curl -s ", "curl -sf ")
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SID": session},
    )
    output = f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert result.returncode == 0, f"{block}\n{output}"
    for promised in PROMISE.findall(block):
        assert promised in result.stdout, f"promised {promised!r}, got:\n{result.stdout}"
