"""Issue 12's fields from the lite client, run under Python 2.7 and 3 against a real server.

usage: python run_kinds.py LITE_DIR SERVER_URL; the last line printed is ``RESULT {json}``.
"""

import json
import sys
import time


def main():
    lite_dir, url = sys.argv[1:3]
    sys.path.insert(0, lite_dir)
    import datacat

    client = datacat.DatacatClient(url)
    session = datacat.Session(client, client.register_session(product="lite-kinds"))
    session.log_metric("plain", 1)
    session.log_metric("load_ms", 12.5, ["a"], kind="timer", unit="ms")
    session.log_metric("requests", 3, kind="counter")
    session.log_event("seed", {"k": 1})
    session.log_event(
        "deploy", {"v": 2}, level="warning", message="rolled back", category="ops", labels=["eu"]
    )
    refused = []
    for call in (
        lambda: session.log_metric("m", 1, kind="meter"),
        lambda: session.log_metric("m", 1, unit=""),
        lambda: session.log_event("e", level="fatal"),
        lambda: session.log_event("e", labels="eu"),
    ):
        try:
            call()
        except datacat.InvalidData as exc:
            refused.append(str(exc))
    watched = datacat.Session(client, client.register_session(product="lite-monitor"))
    watched.start_heartbeat_monitor(timeout=0.3, check_interval=0.05)
    deadline = time.time() + 20
    while time.time() < deadline and watched.heartbeat_monitor.hung_since is None:
        time.sleep(0.02)
    watched.heartbeat()
    watched.stop_heartbeat_monitor()
    out = {
        "session_id": session.session_id,
        "refused": refused,
        "monitored_id": watched.session_id,
    }
    sys.stdout.write("RESULT " + json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
