"""schemathesis against a real server on each backend, with every check it has.

No generated input may produce a 5xx; every answer must have a declared status, content
type, headers and body shape (``response_schema_conformance``); every request the schema
calls valid must be accepted (so every limit the server enforces is declared: lengths,
NUL characters, ranges); invalid ones must be rejected; a method a path does not serve
answers 405 with an ``Allow`` header naming exactly the documented methods.

Valid (positive) requests run on both backends, since storing is where the backends
differ (PostgreSQL refuses what SQLite keeps); invalid (negative) ones run on SQLite only,
because validation happens before any database is touched. The two modes run separately:
mixed in one run, hypothesis spent minutes drawing batch bodies for one operation.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from support import serve

HOOKS = Path(__file__).with_name("fuzz_hooks.py")


@pytest.mark.parametrize(
    ("backend", "mode"),
    [("sqlite", "positive"), ("sqlite", "negative"), ("postgresql", "positive")],
    indirect=["backend"],
)
def test_every_generated_request_gets_a_documented_answer(
    backend: str, mode: str, database_url: str, tmp_path: Path
) -> None:
    schemathesis = Path(sys.executable).parent / "schemathesis"
    url = database_url if backend == "postgresql" else f"sqlite+aiosqlite:///{tmp_path}/fuzz.db"
    with serve(url) as base:
        session_id = httpx.post(f"{base}/api/sessions").json()["session_id"]
        env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "DATACAT_FUZZ_SESSION": session_id}
        result = subprocess.run(
            [
                str(schemathesis),
                "run",
                f"{base}/openapi.json",
                "--checks",
                "all",
                "--mode",
                mode,
                "--max-examples",
                "15",
                "--seed",
                "20261128",
                "--generation-allow-x00",
                "true",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
            env=env,
        )
    assert result.returncode == 0, result.stdout[-6000:]
    assert "No issues found" in result.stdout, result.stdout[-6000:]
