"""The lite client's API key under Python 2.7 and 3, on a real key-protected server.

``run_auth_checks.py`` makes the calls in a subprocess of each interpreter, through a
counting proxy; here the requests the proxy saw are compared with those calls one by one
— which key each carried, what the server answered, and that a refusal was sent once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_lite_client import HERE, LITE_DIR, finish, interpreter_params, result_of, run_script

from support.keyed import CountingProxy, KeyedServer, keyed_server


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedServer]:
    with keyed_server(tmp_path_factory.mktemp("keyed-lite")) as server:
        yield server


@pytest.mark.parametrize("python", interpreter_params())
def test_the_key_goes_with_every_request_and_a_refusal_is_sent_once(
    python: str, keyed: KeyedServer
) -> None:
    keys = {**keyed.keys, "unknown": keyed.unknown, "revoked": keyed.revoked}
    env = {"DATACAT_TEST_KEYS": json.dumps(keys), "DATACAT_API_KEY": ""}
    with CountingProxy(keyed.url) as proxy:
        runner = str(HERE / "run_auth_checks.py")
        out, err = finish(run_script(python, runner, str(LITE_DIR), proxy.url, env=env))
        seen = proxy.seen()
    result = result_of(out)
    assert Path(result["datacat_file"]).parent == LITE_DIR
    assert result["python"] == (2 if python == "py2.7" else 3)
    sid, from_env = result["session_id"], result["from_env"]

    ingest, read = (f"Bearer {keyed.keys[s]}" for s in ("ingest", "read"))
    unknown, revoked = f"Bearer {keyed.unknown}", f"Bearer {keyed.revoked}"
    expected = [
        ("POST", "/api/sessions", 200, ingest),
        ("POST", f"/api/sessions/{sid}/events", 200, ingest),
        ("POST", f"/api/sessions/{sid}/metrics", 200, ingest),
        ("POST", f"/api/sessions/{sid}/heartbeat", 200, ingest),
        ("GET", f"/api/sessions/{sid}", 200, read),
        ("POST", f"/api/sessions/{sid}/events", 403, read),  # once: not retried
        ("POST", f"/api/sessions/{sid}/heartbeat", 403, read),  # then no more keep-alives
        ("POST", "/api/sessions", 401, None),
        ("GET", "/api/grafana/sessions", 401, unknown),
        ("GET", "/api/grafana/sessions", 401, revoked),
        ("POST", "/api/sessions", 200, ingest),  # from $DATACAT_API_KEY
        ("POST", f"/api/sessions/{from_env}/end", 200, ingest),
        ("GET", "/api/grafana/sessions", 401, None),  # api_key="" despite the environment
        ("POST", "/api/sessions", 403, read),  # api_key= wins over the environment
    ]
    assert [(s.method, s.path, s.status, s.authorization) for s in seen] == expected

    assert result["forbidden"]["class"] == "Forbidden" and result["forbidden"]["status"] == 403
    assert result["forbidden"]["message"].startswith("forbidden (403): ")
    assert result["no_key"]["message"].startswith("authentication failed (401): ")
    assert "DATACAT_API_KEY" in result["no_key"]["message"]  # how to give a key
    for name in ("unknown", "revoked", "empty_key"):
        assert result[name]["class"] == "Unauthorized", name
    assert "invalid or revoked" in result["revoked"]["message"]
    assert result["explicit_wins"]["class"] == "Forbidden"
    assert result["bad_key"]["class"] == "InvalidData" and "a b" not in result["bad_key"]["message"]
    assert result["hierarchy"] == [True, True]
    assert "keep-alives stopped" in result["log"]
    assert result["log"].count("keep-alive") == 1  # one line for the refused keep-alives

    shown = json.dumps(result) + out + err
    for key in (*keyed.keys.values(), keyed.revoked):
        assert key not in shown and key.split("_", 1)[1] not in shown

    stored = httpx.get(
        f"{keyed.url}/api/sessions/{sid}",
        headers={"Authorization": f"Bearer {keyed.keys['admin']}"},
    ).json()
    assert [e["name"] for e in stored["events"]] == ["with-key"]  # the refused one is not there
    assert stored["metrics"][0]["value"] == 1.5 and stored["heartbeat_timeout"] == 30
