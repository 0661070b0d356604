"""The lite client's exception frames (issue 12 item 3) under Python 2.7 and 3, sent by
``log_exception`` and by a ``with`` block that crashes, read back from a real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_lite_client import HERE, LITE_DIR, finish, interpreter_params, result_of
from test_lite_client import run_script as start_script

from support import serve

MAX_FRAMES = 100


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("lite-frames") / "lite.db"
    with serve(f"sqlite+aiosqlite:///{db}") as base:
        yield base


def _exceptions(url: str, session_id: str) -> list[dict[str, Any]]:
    page = httpx.get(f"{url}/api/sessions/{session_id}/events", timeout=30)
    page.raise_for_status()
    return [e["data"] for e in page.json()["items"] if e["name"] == "exception"]


def _places(frames: list[dict[str, Any]]) -> list[tuple[str, str, int, bool]]:
    return [(f["module"], f["function"], f["line"], f["in_app"]) for f in frames]


def _library_part(frames: list[dict[str, Any]]) -> None:
    """json.loads and what it calls: the standard library's, never the app's."""
    assert frames and frames[0]["function"] == "loads"
    assert all(f["module"].startswith("json") and f["in_app"] is False for f in frames)


@pytest.mark.parametrize("python", interpreter_params())
def test_lite_sends_frames(url: str, python: str) -> None:
    product = f"lite-frames-{python}"
    script = str(HERE / "run_frames.py")
    stdout, _ = finish(start_script(python, script, str(LITE_DIR), url, product))
    result = result_of(stdout)
    line, app = result["lines"], result["file"]

    handled, refused, deep = _exceptions(url, result["handled_id"])
    assert handled["type"] in ("ValueError", "JSONDecodeError")
    assert _places(handled["frames"][:3]) == [
        ("__main__", "main", line["main_try"], True),
        ("__main__", "checkout", line["first"], True),
        ("__main__", "parse", line["parse"], True),
    ]
    assert {f["file"] for f in handled["frames"][:3]} == {app}
    _library_part(handled["frames"][3:])
    assert "frames_omitted" not in handled and "fatal" not in handled

    assert refused["type"] == "InvalidData" and refused["frames"][0]["function"] == "main"
    own = refused["frames"][1:]
    assert own and all(f["module"] == "datacat" and f["in_app"] is False for f in own)

    assert len(deep["frames"]) == MAX_FRAMES
    assert deep["frames_omitted"] == 32  # main and 131 recurse calls, the innermost 100 kept
    assert {f["function"] for f in deep["frames"]} == {"recurse"}
    assert deep["frames"][-1]["line"] == line["raise"]

    [crash] = _exceptions(url, result["crashed_id"])
    assert crash["fatal"] is True
    assert _places(crash["frames"][:3]) == [
        ("__main__", "main", line["main_with"], True),
        ("__main__", "checkout", line["second"], True),
        ("__main__", "parse", line["parse"], True),
    ]
    _library_part(crash["frames"][3:])

    verdicts = result["verdicts"]
    mine = [app, "/srv/app/myapp/worker.py"]
    assert [verdicts[p] for p in verdicts] == [
        p in mine or p.endswith("-mine/app.py") for p in verdicts
    ]

    # the two JSON errors, raised at different lines of checkout in two sessions: one group
    groups = httpx.get(f"{url}/api/exceptions", params={"product": product}, timeout=30).json()
    by_type = {g["type"]: g for g in groups["items"]}
    assert set(by_type) == {handled["type"], "InvalidData", "RuntimeError"}
    same = by_type[handled["type"]]
    assert (same["occurrences"], same["sessions"], same["fatal"]) == (2, 2, 1)
