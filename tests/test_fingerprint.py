"""The grouping rule for exceptions (``datacat.fingerprint``), with plain asserts.

Each expected fingerprint is also computed here from the contract's own words
(sha256 of the type and the frame keys), so the rule is checked against an independent
statement of it, not only against itself.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from datacat.fingerprint import exception_marks, fingerprint, frames_of, mask


def expected(kind: str, *keys: str) -> str:
    return hashlib.sha256("\n".join([kind, *keys]).encode()).hexdigest()[:32]


def frame(file: str, line: int, function: str, **more: Any) -> dict[str, Any]:
    return {"file": file, "line": line, "function": function, **more}


APP = "/srv/app/myapp/worker.py"
LIB = "/usr/lib/python3.12/json/decoder.py"
SITE = "/opt/venv/lib/python3.12/site-packages/requests/api.py"


def data(*frames: dict[str, Any], kind: str = "ValueError", **more: Any) -> dict[str, Any]:
    return {"type": kind, "message": "bad value 42", "frames": list(frames), **more}


def test_key_is_type_and_in_app_frames_only() -> None:
    got = fingerprint(data(frame(APP, 42, "run"), frame(LIB, 337, "decode")))
    assert got == expected("ValueError", "myapp/worker.py:run")


def test_line_shifts_do_not_change_the_group() -> None:
    before = data(frame(APP, 42, "run"), frame("/srv/app/myapp/parse.py", 7, "parse"))
    after = data(frame(APP, 58, "run"), frame("/srv/app/myapp/parse.py", 9, "parse"))
    assert fingerprint(before) == fingerprint(after)


def test_another_hosts_install_path_is_the_same_group() -> None:
    here = data(frame(SITE, 10, "get"), frame(LIB, 1, "decode"))
    there = data(
        frame("C:\\Users\\ann\\venv\\Lib\\site-packages\\requests\\api.py", 12, "get"),
        frame("/usr/lib/python3.11/json/decoder.py", 2, "decode"),
    )
    # No frame is in-app in either, so all frames count: the site-packages part is cut off,
    # the standard library's file keeps its last two components.
    assert fingerprint(here) == expected(
        "ValueError", "requests/api.py:get", "json/decoder.py:decode"
    )
    assert fingerprint(here) != fingerprint(
        data(frame(SITE, 10, "get"), frame("/usr/lib/python3.12/json/encoder.py", 1, "x"))
    )
    assert fingerprint(there) == fingerprint(here)
    # The app itself under another root: the last two components are the same.
    a = data(frame("/home/ci/build/myapp/worker.py", 3, "run"))
    b = data(frame("/srv/app/myapp/worker.py", 30, "run"))
    assert fingerprint(a) == fingerprint(b) == expected("ValueError", "myapp/worker.py:run")


def test_module_is_the_key_when_given() -> None:
    one = data(frame("/a/b/c/worker.py", 1, "run", module="myapp.worker"))
    two = data(frame("/x/worker.py", 2, "run", module="myapp.worker"))
    assert fingerprint(one) == fingerprint(two) == expected("ValueError", "myapp.worker:run")


def test_different_in_app_function_is_a_different_group() -> None:
    assert fingerprint(data(frame(APP, 42, "run"))) != fingerprint(data(frame(APP, 42, "stop")))


def test_different_type_is_a_different_group() -> None:
    frames = [frame(APP, 42, "run")]
    assert fingerprint(data(*frames)) != fingerprint(data(*frames, kind="KeyError"))


def test_in_app_flag_wins_over_the_path() -> None:
    flagged = data(frame(APP, 1, "run", in_app=False), frame(SITE, 2, "get", in_app=True))
    assert fingerprint(flagged) == expected("ValueError", "requests/api.py:get")
    judged = data(frame(APP, 1, "run", in_app="yes"), frame(SITE, 2, "get"))
    assert fingerprint(judged) == expected("ValueError", "myapp/worker.py:run")


@pytest.mark.parametrize(
    "path",
    [
        "/usr/lib/python3.12/json/decoder.py",
        "/usr/local/lib/python3.13t/asyncio/base_events.py",
        "<frozen importlib._bootstrap>",
        "/usr/lib/python3/dist-packages/yaml/reader.py",
        "C:\\Python312\\Lib\\json\\decoder.py",
    ],
)
def test_not_in_app_paths(path: str) -> None:
    assert frames_of(data(frame(path, 1, "f")))[0].in_app is False


def test_no_frames_groups_by_masked_message() -> None:
    a = {"type": "KeyError", "message": "id 42 missing in 'users' at 0x7f3a9c"}
    b = {"type": "KeyError", "message": 'id 7 missing in "orders" at 0x10'}
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) == expected("KeyError", "id <n> missing in <str> at <hex>")
    assert fingerprint({"type": "KeyError", "message": "other thing"}) != fingerprint(a)
    assert fingerprint({"type": "KeyError"}) == expected("KeyError", "")
    assert mask("uuid 3f2a9b1c-1d2e-4f5a-8b9c-0d1e2f3a4b5c, n=12") == "uuid <hex>, n=<n>"


TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/srv/app/myapp/worker.py", line 42, in run',
    "    parse(x)",
    '  File "/usr/lib/python3.12/json/decoder.py", line 337, in decode',
    "    obj, end = self.raw_decode(s, idx=_w(s, 0).end())",
    '  File "/srv/app/myapp/parse.py", line 9, in <module>',
    "ValueError: bad value 42",
]


def test_traceback_lines_are_parsed_when_no_frames() -> None:
    frames = frames_of({"type": "ValueError", "traceback": TRACEBACK})
    assert [(f.file, f.line, f.function, f.in_app) for f in frames] == [
        ("/srv/app/myapp/worker.py", 42, "run", True),
        ("/usr/lib/python3.12/json/decoder.py", 337, "decode", False),
        ("/srv/app/myapp/parse.py", 9, "<module>", True),
    ]
    got = fingerprint({"type": "ValueError", "message": "x", "traceback": TRACEBACK})
    assert got == expected("ValueError", "myapp/worker.py:run", "myapp/parse.py:<module>")
    # The same traceback as one string, and as format_exception's multi-line items.
    assert fingerprint({"type": "ValueError", "traceback": "\n".join(TRACEBACK)}) == got
    chunks = [TRACEBACK[0] + "\n", TRACEBACK[1] + "\n" + TRACEBACK[2] + "\n", *TRACEBACK[3:]]
    assert fingerprint({"type": "ValueError", "traceback": chunks}) == got
    # Line shifts in the printed traceback do not matter either.
    shifted = [line.replace("line 42", "line 50") for line in TRACEBACK]
    assert fingerprint({"type": "ValueError", "traceback": shifted}) == got


def test_chained_traceback_uses_the_reported_exception() -> None:
    chained = [
        "Traceback (most recent call last):",
        '  File "/srv/app/myapp/first.py", line 1, in load',
        "KeyError: 'k'",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        *TRACEBACK,
    ]
    assert fingerprint({"type": "ValueError", "traceback": chained}) == fingerprint(
        {"type": "ValueError", "traceback": TRACEBACK}
    )


def test_frames_win_over_traceback_lines() -> None:
    both = data(frame(APP, 1, "other"), traceback=TRACEBACK)
    assert fingerprint(both) == expected("ValueError", "myapp/worker.py:other")


@pytest.mark.parametrize(
    "junk",
    [
        None,
        "frames",
        [None, 1, "x", [], {}],
        [{"file": 3, "line": "x", "function": None, "in_app": "no", "module": 5}],
        [{"line": 1}],
        [{"function": "f"}] * 100_000,
        [{"file": "a" * 100_000, "function": "\x00\udcff"}],
    ],
)
def test_junk_frames_never_raise(junk: Any) -> None:
    got = fingerprint({"type": "E", "message": "m", "frames": junk, "traceback": junk})
    assert got is not None and len(got) == 32


def test_huge_lists_are_bounded() -> None:
    deep = [frame(APP, i, "recurse") for i in range(50_000)]
    assert len(frames_of(data(*deep))) == 256
    lines = ['  File "/srv/app/myapp/r.py", line 1, in recurse'] * 50_000
    assert len(frames_of({"traceback": lines})) == 256


@pytest.mark.parametrize("value", [None, "x", [], {"message": "m"}, {"type": ""}, {"type": 3}])
def test_without_a_type_no_group(value: Any) -> None:
    assert fingerprint(value) is None
    assert exception_marks("exception", value) == (None, None)


def test_marks() -> None:
    assert exception_marks("step", data(frame(APP, 1, "run"))) == (None, None)
    fp, fatal = exception_marks("exception", data(frame(APP, 1, "run"), fatal=True))
    assert fp == expected("ValueError", "myapp/worker.py:run") and fatal is True
    assert exception_marks("exception", data(frame(APP, 1, "run"), fatal="yes"))[1] is False
    assert exception_marks("exception", data(frame(APP, 1, "run")))[1] is False
