"""The lite client's own guarantees, checked from Python 2.7 and 3 against a real server.

usage: python run_checks.py LITE_DIR SERVER_URL FLAKY_PROXY_URL

FLAKY_PROXY_URL forwards every request to the server but, for the first attempt of each
event or metric id, drops the connection instead of relaying the answer: the write is
stored and the client sees a connection error, then retries. The last line printed is
``RESULT {json}``; the test asserts on it and on what the server stored.
"""

import json
import os
import sys


def expect(call, error_class):
    """The error ``call()`` raises, described; fails loudly if none or another is raised."""
    try:
        call()
    except error_class as exc:
        return {
            "class": type(exc).__name__,
            "status": getattr(exc, "status", None),
            "detail": getattr(exc, "detail", None),
            "message": str(exc),
        }
    raise AssertionError("no " + error_class.__name__ + " raised")


def main():
    lite_dir, url, proxy_url = sys.argv[1:4]
    sys.path.insert(0, lite_dir)
    import datacat

    client = datacat.DatacatClient(url)
    flaky = datacat.DatacatClient(proxy_url)
    sid = client.register_session(product="lite-checks", version="1")
    out = {"datacat_file": os.path.abspath(datacat.__file__), "session_id": sid}

    # A lost answer: the client retries once with the same id; the server stores it once.
    out["retried_event"] = flaky.log_event(sid, "retried", {"n": 1})
    out["retried_metric"] = flaky.log_metric(sid, "retried_metric", 2.5, tags=["t:1"])
    # The same id sent twice by hand: acknowledged twice, stored once.
    out["twice"] = [client.log_event(sid, "twice", id="fixed-id-1") for _ in range(2)]

    missing = "00000000-0000-0000-0000-000000000000"
    out["not_found"] = expect(lambda: client.get_session(missing), datacat.NotFound)
    out["not_found_write"] = expect(lambda: client.log_event(missing, "x"), datacat.APIError)
    out["long_name"] = expect(lambda: client.log_event(sid, "x" * 300), datacat.Unprocessable)
    out["bad_time"] = expect(
        lambda: client.log_metric(sid, "m", 1, timestamp="yesterday"), datacat.APIError
    )
    out["hierarchy"] = [
        issubclass(datacat.NotFound, datacat.APIError),
        issubclass(datacat.Unprocessable, datacat.APIError),
        issubclass(datacat.APIError, datacat.DatacatError),
        issubclass(datacat.TransportError, datacat.DatacatError),
        issubclass(datacat.InvalidData, ValueError),
    ]
    out["nan"] = expect(lambda: client.log_metric(sid, "m", float("nan")), datacat.InvalidData)
    unreachable = datacat.DatacatClient("http://127.0.0.1:9", timeout=2)
    out["unreachable"] = expect(lambda: unreachable.get_session(sid), datacat.TransportError)

    try:
        {}["missing"]
    except KeyError:
        out["exception"] = client.log_exception(sid, extra_data={"job": 7})
    out["heartbeat"] = client.heartbeat(sid, 30)
    out["end"] = datacat.Session(client, sid).end()

    crashed = datacat.Session(client, client.register_session())
    try:
        with crashed:
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    out["crashed_id"] = crashed.session_id
    sys.stdout.write("RESULT " + json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
