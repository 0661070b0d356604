"""The seed README's "Python Client Usage" examples, verbatim: a contract.

Only the server URL changes (the seed's default is http://localhost:8080), and examples
that rely on an earlier example's import get that import prepended.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

BASIC = """
from datacat import create_session

# Create a new session
session = create_session("http://localhost:8080")

# Update state
session.update_state({"status": "running", "progress": 0})

# Log events
session.log_event("started", {"user": "alice"})

# Log metrics
session.log_metric("cpu_usage", 45.2, tags=["host:server1"])

# Get session details
details = session.get_details()
print(details)
"""

ADVANCED = """
from datacat import DatacatClient, Session

# Create client
client = DatacatClient("http://localhost:8080")

# Register a session manually
session_id = client.register_session()

# Create session object
session = Session(client, session_id)

# Use session methods
session.update_state({"phase": "initialization"})
session.log_event("initialization_complete")
session.log_metric("init_time", 1.234)

# Get all sessions (for monitoring/debugging)
all_sessions = client.get_all_sessions()
"""

PY2 = """
from __future__ import print_function
from datacat import create_session

session = create_session()
session.update_state({"version": "2.7"})
print("Session ID:", session.session_id)
"""

NESTED = """
from datacat import create_session

session = create_session()

# Set initial nested state
session.update_state({
    "window_state": {
        "open": ["window 1", "window 2"],
        "active": "window 1"
    },
    "memory": {
        "footprint_mb": 50.2
    },
    "settings": {
        "theme": "dark"
    }
})

# Partial update - only changes window_state.open
# Preserves window_state.active and all other state
session.update_state({
    "window_state": {
        "open": ["window 1", "window 2", "window 3"]
    }
})

# Update different part of state
session.update_state({
    "memory": {
        "footprint_mb": 75.5
    }
})
print("Session ID:", session.session_id)
"""

LIFECYCLE = """
session = create_session()

# Log session start
session.log_event("session_started", {"user": "alice"})

# Do work...
session.update_state({"status": "running"})

# End session properly
session.log_event("session_ending")
session.end()
print("Session ID:", session.session_id)
"""

MONITORING = """
session = create_session()
session.update_state({"app": "myapp", "status": "starting"})
session.log_event("startup", {"version": "1.0.0"})
session.log_metric("startup_time", 2.5)

# During execution
session.update_state({"status": "running"})
session.log_metric("requests_per_second", 1000)

# On shutdown
session.log_event("shutdown")
session.update_state({"status": "stopped"})
print("Session ID:", session.session_id)
"""


def _run(code: str, url: str) -> str:
    # The seed's default URL is localhost:8080; point the default at the test server.
    prelude = (
        "import datacat_client._session as s\n"
        f"s.create_session.__defaults__ = ({url!r},)\n"
        "from datacat import create_session\n"
    )
    example = code.replace("http://localhost:8080", url)
    code = prelude + f"exec(compile({example!r}, 'seed-example', 'exec'))\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("example", [BASIC, ADVANCED, PY2, MONITORING])
def test_seed_example_runs(example: str, url: str) -> None:
    _run(example, url)


def test_basic_example_prints_its_data(url: str) -> None:
    out = _run(BASIC, url)
    assert "'started'" in out and "'cpu_usage'" in out and "'progress': 0" in out


def test_nested_state_example_merges(url: str, raw: httpx.Client) -> None:
    session_id = _run(NESTED, url).split()[-1]
    state = raw.get(f"/api/sessions/{session_id}").json()["state"]
    assert state == {
        "window_state": {"open": ["window 1", "window 2", "window 3"], "active": "window 1"},
        "memory": {"footprint_mb": 75.5},
        "settings": {"theme": "dark"},
    }


def test_lifecycle_example_ends_the_session(url: str, raw: httpx.Client) -> None:
    session_id = _run(LIFECYCLE, url).split()[-1]
    stored = raw.get(f"/api/sessions/{session_id}").json()
    assert stored["active"] is False and stored["ended_at"]
    assert [e["name"] for e in stored["events"]] == ["session_started", "session_ending"]
