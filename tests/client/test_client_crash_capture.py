"""``install_excepthook`` in processes that really crash, and the logging bridge."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import httpx

from datacat_client import DatacatHandler, Session

CRASHING_MAIN = """
import sys
from datacat import create_session
session = create_session(sys.argv[1])
session.install_excepthook()
print(session.session_id, flush=True)
session.log_metric("work", 1)
def deep():
    raise ValueError("the app fell over")
deep()
"""

CRASHING_THREAD = """
import sys, threading
from datacat import create_session
session = create_session(sys.argv[1])
session.install_excepthook()
print(session.session_id, flush=True)
def worker():
    raise KeyError("in a thread")
t = threading.Thread(target=worker, name="worker-1")
t.start(); t.join()
session.log_event("main_goes_on")
session.end()
"""


def _run(script: str, url: str) -> tuple[subprocess.CompletedProcess[str], str]:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, result.stdout.split()[0]


def test_uncaught_exception_in_main_marks_the_session_crashed(url: str, raw: httpx.Client) -> None:
    result, session_id = _run(CRASHING_MAIN, url)
    assert result.returncode == 1
    assert "ValueError: the app fell over" in result.stderr  # the previous hook still ran
    stored = raw.get(f"/api/sessions/{session_id}").json()
    assert stored["status"] == "crashed" and stored["active"] is False and stored["ended_at"]
    assert stored["metrics"][0]["name"] == "work"  # queued data was flushed before exit
    data = stored["events"][-1]["data"]
    assert stored["events"][-1]["name"] == "exception"
    assert data["type"] == "ValueError" and data["message"] == "the app fell over"
    assert data["fatal"] is True and data["uncaught"] is True and data["thread"] == "MainThread"
    assert any("in deep" in line for line in data["traceback"])


def test_uncaught_exception_in_a_thread(url: str, raw: httpx.Client) -> None:
    result, session_id = _run(CRASHING_THREAD, url)
    assert result.returncode == 0, result.stderr
    assert "KeyError: 'in a thread'" in result.stderr
    stored = raw.get(f"/api/sessions/{session_id}").json()
    exception = next(e for e in stored["events"] if e["name"] == "exception")
    assert exception["data"]["thread"] == "worker-1" and exception["data"]["fatal"] is True
    assert stored["events"][-1]["name"] == "main_goes_on"
    assert stored["status"] == "crashed"  # a crash is final, even after a clean end


def test_logging_handler_ships_records(session: Session) -> None:
    logger = logging.getLogger("tests.client.handler")
    logger.setLevel(logging.DEBUG)
    handler = DatacatHandler(session, level=logging.INFO)
    logger.addHandler(handler)
    try:
        logger.debug("too quiet")
        logger.info("hello %s", "world")
        try:
            _ = 1 / 0
        except ZeroDivisionError:
            logger.exception("it broke")
        logging.getLogger("datacat_client").warning("own records are never shipped")
    finally:
        logger.removeHandler(handler)
    events = session.get_details()["events"]
    assert [e["data"]["message"] for e in events] == ["hello world", "it broke"]
    assert {e["name"] for e in events} == {"log"}
    assert events[0]["data"]["level"] == "INFO"
    assert events[0]["data"]["logger"] == "tests.client.handler"
    assert "ZeroDivisionError" in events[1]["data"]["exception"]
