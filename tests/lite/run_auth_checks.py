"""The lite client's API key, checked from Python 2.7 and 3 against a key-protected server.

usage: DATACAT_TEST_KEYS='{"ingest": ..., "read": ..., "unknown": ..., "revoked": ...}'
       python run_auth_checks.py LITE_DIR PROXY_URL

PROXY_URL is a counting proxy in front of the server: the test compares the requests it
saw with the calls made here, in order. The last line printed is ``RESULT {json}``, with
every error message, repr and log line the key could have leaked into.
"""

import json
import logging
import os
import sys
import time

try:
    from StringIO import StringIO  # Python 2: logging writes str (bytes) there
except ImportError:
    from io import StringIO


def expect(call, error_class):
    try:
        call()
    except error_class as exc:
        return {
            "class": type(exc).__name__,
            "status": getattr(exc, "status", None),
            "message": str(exc),
        }
    raise AssertionError("no " + error_class.__name__ + " raised")


def wait_for(condition, timeout=20.0):
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def main():
    lite_dir, url = sys.argv[1:3]
    sys.path.insert(0, lite_dir)
    import datacat

    keys = json.loads(os.environ.pop("DATACAT_TEST_KEYS"))
    log_text = StringIO()
    handler = logging.StreamHandler(log_text)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    out = {"datacat_file": os.path.abspath(datacat.__file__), "python": sys.version_info[0]}

    # An ingest key writes; every request carries it.
    writer = datacat.DatacatClient(url, api_key=keys["ingest"])
    sid = writer.register_session(product="lite-auth")
    writer.log_event(sid, "with-key", {"n": 1})
    writer.log_metric(sid, "m", 1.5)
    writer.heartbeat(sid, 30)
    out["session_id"] = sid

    # A read key reads, and its write is refused once: raised, not retried.
    reader = datacat.DatacatClient(url, api_key=keys["read"])
    out["read"] = reader.get_session(sid)["id"]
    out["forbidden"] = expect(lambda: reader.log_event(sid, "refused"), datacat.Forbidden)
    monitor = datacat.HeartbeatMonitor(reader, sid, timeout=60, check_interval=0.02)
    monitor.start()
    wait_for(lambda: monitor._keepalive_refused)
    time.sleep(0.3)  # 15 check intervals: a monitor that kept trying would send 15 more
    monitor.stop()

    # No key, an unknown one, a revoked one: 401.
    out["no_key"] = expect(datacat.DatacatClient(url).register_session, datacat.Unauthorized)
    unknown = datacat.DatacatClient(url, api_key=keys["unknown"])
    out["unknown"] = expect(unknown.get_all_sessions, datacat.Unauthorized)
    revoked = datacat.DatacatClient(url, api_key=keys["revoked"])
    out["revoked"] = expect(revoked.get_all_sessions, datacat.Unauthorized)

    # $DATACAT_API_KEY is the default (a trailing newline, as from a file, is dropped);
    # api_key="" sends none and an explicit key wins over the environment.
    os.environ["DATACAT_API_KEY"] = keys["ingest"] + "\n"
    from_env = datacat.create_session(url, product="from-env")
    out["from_env"] = from_env.session_id
    from_env.end()
    keyless = datacat.DatacatClient(url, api_key="")
    out["empty_key"] = expect(keyless.get_all_sessions, datacat.Unauthorized)
    out["explicit_wins"] = expect(
        lambda: datacat.create_session(url, api_key=keys["read"]), datacat.Forbidden
    )
    out["bad_key"] = expect(lambda: datacat.DatacatClient(url, api_key="a b"), datacat.InvalidData)

    out["reprs"] = [repr(writer), repr(reader), repr(datacat.Session(reader, sid))]
    out["hierarchy"] = [
        issubclass(datacat.Unauthorized, datacat.APIError),
        issubclass(datacat.Forbidden, datacat.APIError),
    ]
    out["log"] = log_text.getvalue()
    sys.stdout.write("RESULT " + json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
