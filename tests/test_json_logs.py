"""``DATACAT_LOG_FORMAT=json`` and ``X-Request-ID``, from a real ``datacat serve``.

The server's whole output is read back line by line: every line must be one JSON object
(uvicorn's start-up lines, its access log, datacat's own loggers), and lines written while
a request was served carry that request's id — the one the client sent, when sane.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from datacat import requestid
from datacat.logformat import JsonFormatter
from support import datacat_server, eventually
from support.sqlitelock import foreign_write_lock


def log_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of the server's output, each required to be a JSON object."""
    lines = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parsed = json.loads(line)  # a line that is not JSON fails here, naming itself
        assert isinstance(parsed, dict), f"line {number}: {line}"
        assert {"time", "level", "logger", "message"} <= parsed.keys(), f"line {number}: {line}"
        lines.append(parsed)
    return lines


@pytest.fixture(scope="module")
def json_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    folder = tmp_path_factory.mktemp("json-logs")
    database = folder / "logs.db"
    log_path = folder / "server.log"
    env = {
        "DATACAT_LOG_FORMAT": "json",
        "DATACAT_ACCESS_LOG": "true",
        "DATACAT_SWEEP_INTERVAL_S": "0.5",
    }
    with datacat_server(f"sqlite+aiosqlite:///{database}", env=env, log_path=log_path) as server:
        yield server.url, log_path, database


def test_every_line_is_json_and_the_access_log_carries_the_request_id(
    json_server: tuple[str, Path, Path],
) -> None:
    url, log_path, _ = json_server
    session_id = httpx.post(f"{url}/api/sessions").json()["session_id"]
    sent = "trace-7f3a 01"
    answer = httpx.post(
        f"{url}/api/sessions/{session_id}/events",
        json={"name": "e"},
        headers={"X-Request-ID": sent},
    )
    assert answer.status_code == 200 and answer.headers["x-request-id"] == sent

    def access_line() -> list[dict[str, Any]]:
        return [line for line in log_lines(log_path) if line.get("request_id") == sent]

    (line,) = eventually(access_line)
    assert line["logger"] == "uvicorn.access" and line["level"] == "INFO"
    assert line["method"] == "POST" and line["status"] == 200
    assert line["path"] == f"/api/sessions/{session_id}/events"
    assert line["time"].endswith("Z") and "T" in line["time"]
    started = [line for line in log_lines(log_path) if line["logger"] == "uvicorn.error"]
    assert any("startup complete" in line["message"] for line in started)
    assert all("request_id" not in line for line in started), "no request: no id"


def test_datacat_lines_in_a_request_carry_its_id_and_tracebacks_are_kept(
    json_server: tuple[str, Path, Path],
) -> None:
    url, log_path, database = json_server
    session_id = httpx.post(f"{url}/api/sessions").json()["session_id"]
    with foreign_write_lock(database):
        refused = httpx.post(
            f"{url}/api/sessions/{session_id}/events",
            json={"name": "e"},
            headers={"X-Request-ID": "locked-1"},
            timeout=30,
        )
        assert refused.status_code == 503 and refused.headers["x-request-id"] == "locked-1"

        def failed_sweep() -> list[dict[str, Any]]:
            return [
                line
                for line in log_lines(log_path)
                if line["message"] == "abandoned-session sweep failed"
            ]

        sweep = eventually(failed_sweep)[0]  # the sweeper met the lock too, in its own task
    assert sweep["logger"] == "datacat.app" and sweep["level"] == "ERROR"
    assert "Traceback" in sweep["exc_info"] and "locked" in sweep["exc_info"]
    assert "request_id" not in sweep
    in_request = [line for line in log_lines(log_path) if line.get("request_id") == "locked-1"]
    mine = [line for line in in_request if line["logger"].startswith("datacat.")]
    assert mine and mine[0]["level"] == "ERROR" and "unavailable" in mine[0]["message"]


def test_a_sane_request_id_is_echoed_and_any_other_replaced(
    json_server: tuple[str, Path, Path],
) -> None:
    url = json_server[0]
    longest = "r" * requestid.MAX_LENGTH
    assert (
        httpx.get(f"{url}/healthz", headers={"X-Request-ID": longest}).headers["x-request-id"]
        == longest
    )
    for insane in (b"r" * (requestid.MAX_LENGTH + 1), b"caf\xe9", b"a\tb"):
        answer = httpx.get(f"{url}/healthz", headers=[(b"X-Request-ID", insane)])
        made = answer.headers["x-request-id"]
        assert made.encode() != insane and made.isalnum() and len(made) <= requestid.MAX_LENGTH


def test_every_answer_carries_a_fresh_request_id(json_server: tuple[str, Path, Path]) -> None:
    url = json_server[0]
    session_id = httpx.post(f"{url}/api/sessions").json()["session_id"]
    answers = [
        httpx.post(f"{url}/api/sessions/{session_id}/events", json={"name": "fast"}),
        httpx.post(f"{url}/api/sessions/{session_id}/events", json={"data": 1}),  # 422
        httpx.get(f"{url}/api/sessions/{session_id}/events"),  # FastAPI
        httpx.get(f"{url}/no-such-page"),  # 404 page
        httpx.post(f"{url}/api/sessions/{session_id}/events", content=b"x" * 2_000_000),  # 413
        httpx.get(f"{url}/static/app.js"),
        httpx.get(f"{url}/-/metrics"),
    ]
    assert [a.status_code for a in answers] == [200, 422, 200, 404, 413, 200, 200]
    ids = [a.headers["x-request-id"] for a in answers]
    assert len(set(ids)) == len(ids) and all(ids)


def test_the_formatter_writes_one_object_with_the_traceback() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.LogRecord(
            "datacat.x", logging.ERROR, __file__, 1, "oops %s", ("a",), sys.exc_info()
        )
    token = requestid.current.set("rid-1")
    try:
        line = formatter.format(record)
    finally:
        requestid.current.reset(token)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "oops a" and parsed["request_id"] == "rid-1"
    assert parsed["exc_info"].startswith("Traceback") and "ValueError: bad" in parsed["exc_info"]


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (b"abc", "abc"),
        (b"a b", "a b"),
        (b"r" * 128, "r" * 128),
        (b"r" * 129, None),
        (b"", None),
        (b" ", None),
        (b"a\tb", None),
        (b"caf\xc3\xa9", None),
    ],
)
def test_which_request_ids_are_sane(raw: bytes, kept: str | None) -> None:
    assert requestid.sane(raw) == kept
