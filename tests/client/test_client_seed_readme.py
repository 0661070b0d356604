"""The seed README's Python examples, verbatim, with this package: a contract.

The examples are the files in ``tests/lite/examples/`` — one copy, which the lite client's
tests also run and check against the seed README byte for byte — and they run through the
same runner, ``tests/lite/run_example.py``, here with ``src/`` (the full ``datacat``
package) in place of the lite module. Only the server URL changes (and the heartbeat
example's timeouts). A session records errors instead of raising, so an exit code of 0
proves little: what each example logged is read back over the HTTP API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import seedexamples

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
LITE_TESTS = ROOT / "tests" / "lite"
EXAMPLES = LITE_TESTS / "examples"
ADVANCED = (EXAMPLES / "advanced.py").read_text()  # test_client_reads.py extends it
SEED_URL = "http://localhost:8080"
HUNG, RECOVERED = "application_appears_hung", "application_recovered"

# The heartbeat example's application loop (supplied by the runner): the first do_work()
# hangs 6 s without a heartbeat, past a 3 s timeout; the loop's time.sleep(1) between
# beats stays 2 s under it, so a stall of the machine has to be long to spoil either.
HEARTBEAT_TIMEOUTS = ("timeout=60, check_interval=5", "timeout=3, check_interval=0.1")
HEARTBEAT_ENV = {"DATACAT_EXAMPLE_HANG": "6", "DATACAT_EXAMPLE_LOOPS": "2"}

Run = tuple[str, dict[str, Any]]  # stdout, the runner's RESULT line


def check_basic(out: str, result: dict[str, Any], session: dict[str, Any]) -> None:
    assert session["state"] == {"status": "running", "progress": 0}
    assert [(e["name"], e["data"]) for e in session["events"]] == [("started", {"user": "alice"})]
    metrics = [(m["name"], m["value"], m["tags"]) for m in session["metrics"]]
    assert metrics == [("cpu_usage", 45.2, ["host:server1"])]
    assert session["active"] is True
    # print(details): the read flushed first, so the printed session holds the writes.
    assert "'cpu_usage'" in out and "'started'" in out and "'progress': 0" in out
    assert session["id"] in out


def check_heartbeat(out: str, result: dict[str, Any], session: dict[str, Any]) -> None:
    events = session["events"]
    assert [e["name"] for e in events] == [HUNG, RECOVERED]  # hung once, then recovered
    assert events[0]["data"]["timeout"] == 3
    assert events[0]["data"]["seconds_since_heartbeat"] > 3
    assert events[1]["data"]["hung_for_seconds"] > 0
    assert session["status"] == "ended" and session["active"] is False and session["ended_at"]
    assert session["heartbeat_timeout"] == 30  # the monitor's keep-alives: max(30, 3 * 0.1)


CHECKS: dict[str, Callable[[str, dict[str, Any], dict[str, Any]], None]] = {
    path.stem: {**vars(seedexamples), **globals()}[f"check_{path.stem}"]
    for path in sorted(EXAMPLES.glob("*.py"))
}


@pytest.fixture(scope="module")
def example_runs(url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every example at once, each in its own interpreter (the heartbeat one takes ~8 s)."""
    scripts = tmp_path_factory.mktemp("seed-examples")
    started = {}
    for name in CHECKS:
        code = (EXAMPLES / f"{name}.py").read_text().replace(SEED_URL, url)
        env = None
        if name == "heartbeat":
            assert HEARTBEAT_TIMEOUTS[0] in code
            code = code.replace(*HEARTBEAT_TIMEOUTS)
            env = HEARTBEAT_ENV
        script = scripts / f"{name}.py"
        script.write_text(code)
        runner = [sys.executable, str(LITE_TESTS / "run_example.py"), str(SRC), url, str(script)]
        started[name] = subprocess.Popen(
            runner,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    runs = {}
    for name, process in started.items():
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, f"{name}: exit {process.returncode}\n{stdout}\n{stderr}"
        assert "Traceback" not in stderr, stderr
        lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
        assert lines, stdout
        runs[name] = stdout, json.loads(lines[-1][len("RESULT ") :])
    return runs


def test_the_examples_are_there() -> None:
    """Each example file needs its check_<name> (a missing one fails at import)."""
    assert set(CHECKS) == {
        *("basic", "advanced", "python2", "nested_state", "heartbeat", "lifecycle"),
        "monitoring",
    }


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_seed_example(name: str, example_runs: dict[str, Run], raw: httpx.Client) -> None:
    out, result = example_runs[name]
    assert Path(result["datacat_file"]).parent == SRC / "datacat"  # this package, not lite
    response = raw.get(f"/api/sessions/{result['session_id']}")
    assert response.status_code == 200, response.text
    CHECKS[name](out, result, response.json())
