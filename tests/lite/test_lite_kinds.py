"""The lite client's metric kind/unit and event level/message/category/labels (issue 12),
under Python 2.7 and 3, read back through the API of a real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_lite_client import HERE, HUNG, LITE_DIR, RECOVERED, finish, interpreter_params, result_of
from test_lite_client import run_script as start_script

from support import serve


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("lite-kinds") / "lite.db"
    with serve(f"sqlite+aiosqlite:///{db}") as base:
        yield base


def _items(url: str, session_id: str, what: str) -> dict[str, dict[str, Any]]:
    page = httpx.get(f"{url}/api/sessions/{session_id}/{what}", timeout=30)
    page.raise_for_status()
    return {item["name"]: item for item in page.json()["items"]}


@pytest.mark.parametrize("python", interpreter_params())
def test_lite_sends_kinds_units_and_levels(url: str, python: str) -> None:
    stdout, _ = finish(start_script(python, str(HERE / "run_kinds.py"), str(LITE_DIR), url))
    result = result_of(stdout)
    metrics = _items(url, result["session_id"], "metrics")
    assert {n: (m["kind"], m["unit"], m["value"]) for n, m in metrics.items()} == {
        "plain": ("gauge", None, 1),
        "load_ms": ("timer", "ms", 12.5),
        "requests": ("counter", None, 3),
    }
    events = _items(url, result["session_id"], "events")
    assert set(events) == {"seed", "deploy"}  # the refused calls stored nothing
    assert (events["seed"]["level"], events["seed"]["data"]) == ("info", {"k": 1})
    deploy = events["deploy"]
    assert (deploy["level"], deploy["message"], deploy["category"], deploy["labels"]) == (
        "warning",
        "rolled back",
        "ops",
        ["eu"],
    )
    refused = result["refused"]
    assert len(refused) == 4
    assert "kind" in refused[0] and "unit" in refused[1] and "level" in refused[2]
    assert "labels" in refused[3]
    levels = {e["name"]: e["level"] for e in _items(url, result["monitored_id"], "events").values()}
    assert levels == {HUNG: "warning", RECOVERED: "info"}
