"""Structured frames in the Python client's ``exception`` events (issue 12 item 3).

Real exceptions raised through the standard library, a site-packages library, the client
itself and frozen import machinery; the frames are compared with the source lines they came
from, then sent by both faces and by the excepthook of a process that really crashes, and
read back from a real server.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import httpx

from datacat_client import AsyncDatacatClient, AsyncSession, DatacatClient, Session, exception_data
from datacat_client._frames import MAX_FRAMES, in_app
from support import FAST

HERE = Path(__file__).resolve()


def _parse(text: str) -> Any:
    return json.loads(text)  # line of the call into the standard library


def _caught(call: Any, *args: Any) -> BaseException:
    try:
        call(*args)
    except Exception as exc:
        return exc
    raise AssertionError("no exception")


def _line_of(function: Any, needle: str) -> int:
    lines, first = inspect.getsourcelines(function)
    return first + next(i for i, line in enumerate(lines) if needle in line)


def _shape(frames: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    return [(f["module"], f["function"], f["in_app"]) for f in frames]


def test_frames_through_the_standard_library() -> None:
    data = exception_data(_caught(_parse, "{bad"))
    frames = data["frames"]
    assert data["type"] == "JSONDecodeError" and "frames_omitted" not in data
    assert _shape(frames[:2]) == [(__name__, "_caught", True), (__name__, "_parse", True)]
    assert frames[0]["line"] == _line_of(_caught, "call(*args)")
    assert frames[1]["line"] == _line_of(_parse, "json.loads(text)")
    assert {f["file"] for f in frames[:2]} == {str(HERE)}
    # then json.loads, JSONDecoder.decode, raw_decode — the library's own, innermost last
    library = frames[2:]
    assert [f["function"] for f in library] == ["loads", "decode", "raw_decode"]
    assert [f["module"] for f in library] == ["json", "json.decoder", "json.decoder"]
    assert not any(f["in_app"] for f in library)
    assert library[-1]["file"].endswith("decoder.py") and isinstance(library[-1]["line"], int)
    # the printed traceback names the same places in the same order
    printed = [line for line in data["traceback"] if line.lstrip().startswith('File "')]
    assert [f'File "{f["file"]}", line {f["line"]}, in {f["function"]}' for f in frames] == [
        line.strip() for line in printed
    ]


def test_site_packages_the_client_itself_and_frozen_frames_are_not_the_app() -> None:
    from_httpx = exception_data(_caught(httpx.URL, "http://[::1"))["frames"]
    assert from_httpx[0]["in_app"] is True
    assert (
        from_httpx[-1]["module"].startswith("httpx") and "site-packages" in from_httpx[-1]["file"]
    )
    assert not any(f["in_app"] for f in from_httpx[1:])

    with DatacatClient("http://127.0.0.1:9", batch=FAST) as client:
        session = Session(client, "no-such-session", strict=True)
        from_client = exception_data(_caught(session.log_metric, "", 1.0))["frames"]
    assert from_client[0]["in_app"] is True
    assert all(f["module"].startswith("datacat_client.") for f in from_client[1:])
    assert from_client[1:] and not any(f["in_app"] for f in from_client[1:])

    frozen = exception_data(_caught(importlib.import_module, "no_such_module_xyz"))["frames"]
    pseudo = [f for f in frozen if f["file"].startswith("<frozen")]
    assert pseudo and not any(f["in_app"] for f in pseudo)


def test_in_app_rules_by_path() -> None:
    stdlib = Path(json.__file__).parent.parent
    assert in_app("/srv/app/myapp/worker.py") is True
    assert in_app(str(HERE)) is True
    assert in_app(str(stdlib / "json" / "decoder.py")) is False
    assert in_app(str(Path(httpx.__file__))) is False
    assert in_app("/opt/venv/lib/python3.12/site-packages/flask/app.py") is False
    assert in_app("/usr/lib/python3/dist-packages/apt/cache.py") is False
    assert in_app("C:\\Python312\\Lib\\site-packages\\requests\\api.py") is False
    assert in_app(str(Path(inspect.getfile(exception_data)))) is False
    assert in_app("<frozen importlib._bootstrap>") is False
    assert in_app("<string>") is False
    assert in_app(str(stdlib) + "-mine/app.py") is True  # a sibling of the stdlib is not it


def _recurse(depth: int) -> None:
    if depth == 0:
        raise RecursionError("deep enough")
    _recurse(depth - 1)


def test_deep_tracebacks_keep_the_innermost_frames() -> None:
    data = exception_data(_caught(_recurse, MAX_FRAMES + 30))
    frames = data["frames"]
    assert len(frames) == MAX_FRAMES
    assert data["frames_omitted"] == 32  # _caught and 131 _recurse calls, 100 kept
    assert all(f["function"] == "_recurse" for f in frames)
    assert frames[-1]["line"] == _line_of(_recurse, "raise RecursionError")
    assert exception_data(_caught(_recurse, 3)).get("frames_omitted") is None


def test_no_exception_and_an_unraised_one() -> None:
    assert "frames" not in exception_data()
    assert exception_data(KeyError("never raised"))["frames"] == []


# -- end to end, on a real server ------------------------------------------------------------
def _checkout(step: int) -> None:
    if step == 1:
        json.loads("{not json")  # first place
    json.loads("[1,")  # second place, same function


def _events(raw: httpx.Client, session_id: str) -> list[dict[str, Any]]:
    page = raw.get(f"/api/sessions/{session_id}/events", params={"name": "exception"})
    page.raise_for_status()
    items: list[dict[str, Any]] = page.json()["items"]
    return [item for item in items if item["name"] == "exception"]


async def _log_async(url: str, product: str, exc: BaseException) -> str:
    async with AsyncDatacatClient(url, batch=FAST) as client:
        session = AsyncSession(client, await client.register_session(product=product))
        await session.log_exception(exc, fatal=True)
        await session.end()
    return session.session_id


def test_both_faces_deliver_the_frames_intact_and_group_as_one(url: str, raw: httpx.Client) -> None:
    first, second = _caught(_checkout, 1), _caught(_checkout, 2)
    product = f"frames-{uuid.uuid4()}"
    with DatacatClient(url, batch=FAST) as client:
        sync_session = Session(client, client.register_session(product=product))
        sync_session.log_exception(first)
        sync_session.end()
    async_id = asyncio.run(_log_async(url, product, second))

    stored_first = _events(raw, sync_session.session_id)
    stored_second = _events(raw, async_id)
    assert [e["data"] for e in stored_first] == [exception_data(first)]
    assert [e["data"] for e in stored_second] == [exception_data(second, fatal=True)]
    one, two = stored_first[0]["data"]["frames"], stored_second[0]["data"]["frames"]
    assert _shape(one) == _shape(two)  # the same places by module and function ...
    assert one[1]["line"] == _line_of(_checkout, "first place")  # ... at different lines
    assert two[1]["line"] == _line_of(_checkout, "second place")

    # ... so the server puts them in one group: the same fingerprint in both sessions
    [group] = raw.get("/api/exceptions", params={"product": product}).json()["items"]
    assert (group["type"], group["occurrences"], group["sessions"], group["fatal"]) == (
        "JSONDecodeError",
        2,
        2,
        1,
    )
    detail = raw.get(f"/api/exceptions/{group['fingerprint']}").json()
    assert {o["session_id"] for o in detail["items"]} == {
        sync_session.session_id,
        async_id,
    }
    assert detail["frames"] == two  # the latest occurrence's frames, as sent


CRASHING_APP = """
import json, sys
from datacat import create_session
session = create_session(sys.argv[1])
session.install_excepthook()
print(session.session_id, flush=True)
def load(text):
    return json.loads(text)
load("{broken")
"""


def test_the_excepthook_sends_frames_of_a_real_crash(
    url: str, raw: httpx.Client, tmp_path: Path
) -> None:
    app = tmp_path / "crashing_app.py"
    app.write_text(textwrap.dedent(CRASHING_APP))
    result = subprocess.run(
        [sys.executable, str(app), url], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1 and "JSONDecodeError" in result.stderr, result.stderr
    [event] = _events(raw, result.stdout.split()[0])
    data = event["data"]
    assert data["fatal"] is True and data["uncaught"] is True
    frames = data["frames"]
    assert _shape(frames[:2]) == [("__main__", "<module>", True), ("__main__", "load", True)]
    source = app.read_text().splitlines()
    called, raised = (
        source.index('load("{broken")') + 1,
        source.index("    return json.loads(text)") + 1,
    )
    assert [f["line"] for f in frames[:2]] == [called, raised] and frames[0]["file"] == str(app)
    assert [f["function"] for f in frames[2:]] == ["loads", "decode", "raw_decode"]
    assert not any(f["in_app"] for f in frames[2:])
