"""Every ``python`` snippet in the README's client section runs, unchanged but for the URL,
and what it logs arrives.

A session records errors instead of raising, so a snippet whose writes all failed still
exits 0: each snippet's sessions (the ones that appeared on the server while it ran) are
read back over the HTTP API and compared with what the snippet logged.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
CLIENT_SECTION = README.read_text().split("\n## Python client\n", 1)[1].split("\n## ", 1)[0]
SNIPPETS = re.findall(r"```python\n(.*?)```", CLIENT_SECTION, flags=re.S)

Stored = list[dict[str, Any]]  # the sessions a snippet created, oldest first


def check_context_manager(out: str, sessions: Stored) -> None:
    (session,) = sessions
    assert (session["product"], session["version"]) == ("shop", "1.4.2")
    assert session["status"] == "ended" and session["active"] is False
    assert session["state"] == {"status": "running", "window": {"open": ["main"]}}
    assert [(e["name"], e["data"]) for e in session["events"]] == [("started", {"user": "alice"})]
    metrics = [(m["name"], m["value"], m["tags"]) for m in session["metrics"]]
    assert metrics == [("queue_depth", i % 17, ["worker:1"]) for i in range(1000)]
    assert out == "active 1000\n"


def check_batch_config(out: str, sessions: Stored) -> None:
    (session,) = sessions
    assert session["status"] == "ended"
    metrics = [(m["name"], m["value"]) for m in session["metrics"]]
    assert metrics == [("latency_ms", 3.0 + i % 5) for i in range(10_000)]
    assert out == "10000 0 []\n"


def check_client_and_errors(out: str, sessions: Stored) -> None:
    (session,) = sessions
    assert session["product"] == "etl" and session["status"] == "ended"
    assert session["state"] == {"phase": "initialization"}
    assert [e["name"] for e in session["events"]] == ["initialization_complete"]
    assert [(m["name"], m["value"]) for m in session["metrics"]] == [("init_time", 1.234)]
    count, not_found = out.splitlines()
    assert int(count) >= 1 and not_found.startswith("404 ")


def check_async(out: str, sessions: Stored) -> None:
    (session,) = sessions
    assert session["product"] == "crawler" and session["status"] == "ended"
    assert session["state"] == {"phase": "crawl"}
    metrics = [(m["name"], m["value"], m["tags"]) for m in session["metrics"]]
    assert metrics == [("page_ms", 12.5, [f"page:{page}"]) for page in range(100)]
    assert session["events"] == []  # heartbeats all along: never hung
    assert session["heartbeat_timeout"] == 30  # the monitor's keep-alives arrived
    assert out.splitlines()[0] == "{'phase': 'crawl'}"


def check_heartbeat(out: str, sessions: Stored) -> None:
    (session,) = sessions
    assert session["status"] == "ended" and session["events"] == []
    assert session["heartbeat_timeout"] == 30  # the monitor's keep-alives arrived


def check_logging(out: str, sessions: Stored) -> None:
    (session,) = sessions
    assert session["status"] == "ended"
    events = session["events"]
    assert [e["name"] for e in events] == ["log", "exception", "log"]
    warning, exception, failed = (e["data"] for e in events)
    assert (warning["level"], warning["logger"]) == ("WARNING", "app")
    assert warning["message"] == "disk at 91%"
    assert (exception["type"], exception["job"]) == ("KeyError", 7)
    assert failed["level"] == "ERROR" and failed["message"] == "lookup failed"
    assert "KeyError" in failed["exception"]


def check_kinds(out: str, sessions: Stored) -> None:
    (session,) = sessions
    assert session["product"] == "worker" and session["status"] == "ended"
    metrics = {m["name"]: (m["kind"], m["unit"], m["value"]) for m in session["metrics"]}
    timing = metrics.pop("load_config")
    assert timing[:2] == ("timer", "ms") and timing[2] >= 10
    assert metrics == {
        "rss": ("gauge", "MB", 182.5),
        "jobs_done": ("counter", None, 1),
        "payload_kb": ("histogram", None, 12.5),
        "frame_ms": ("histogram", "ms", pytest.approx(12.3456)),  # read back as its mean
    }
    (event,) = session["events"]
    assert (event["name"], event["data"], event["level"]) == ("retry", {"attempt": 2}, "warning")
    assert (event["message"], event["category"], event["labels"]) == (
        "upstream timed out",
        "network",
        ["eu-west"],
    )


# Each snippet is recognised by a line of its own; a new snippet needs a check here.
CHECKS: dict[str, Callable[[str, Stored], None]] = {
    'product="shop"': check_context_manager,
    'session.log_metric("latency_ms"': check_batch_config,
    'register_session(product="etl")': check_client_and_errors,
    'AsyncSession.create("http://localhost:8080", product="crawler")': check_async,
    "for step in range(3):": check_heartbeat,
    "DatacatHandler(session": check_logging,
    'session.counter("jobs_done")': check_kinds,
}


def check_for(snippet: str) -> Callable[[str, Stored], None]:
    found = [check for marker, check in CHECKS.items() if marker in snippet]
    assert len(found) == 1, f"no single check of what this snippet stores:\n{snippet}"
    return found[0]


def session_ids(raw: httpx.Client) -> set[str]:
    """The newest sessions' ids: a snippet makes far fewer than a page's 500."""
    page = raw.get("/api/sessions", params={"limit": 500, "sort": "-created_at"})
    page.raise_for_status()
    return {item["id"] for item in page.json()["items"]}


def test_the_doc_has_snippets() -> None:
    assert len(SNIPPETS) >= 6
    assert all(check_for(snippet) for snippet in SNIPPETS)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_snippet_runs_and_its_data_arrives(snippet: str, url: str, raw: httpx.Client) -> None:
    check = check_for(snippet)
    before = session_ids(raw)
    code = snippet.replace("http://localhost:8080", url)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    stored = [raw.get(f"/api/sessions/{sid}").json() for sid in session_ids(raw) - before]
    check(result.stdout, sorted(stored, key=lambda session: session["created_at"]))


def test_overhead_benchmark_runs_and_verifies(url: str) -> None:
    script = Path(__file__).resolve().parents[2] / "bench" / "client_overhead.py"
    result = subprocess.run(
        [sys.executable, str(script), url, "2000"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["measure"] == "client_call_us" and line["stored"] == 2000 and line["exactly_once"]
