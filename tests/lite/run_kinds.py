"""Issue 12's fields from the lite client, run under Python 2.7 and 3 against a real server.

usage: python run_kinds.py LITE_DIR SERVER_URL; the last line printed is ``RESULT {json}``.
"""

import json
import sys


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
    out = {"session_id": session.session_id, "refused": refused}
    sys.stdout.write("RESULT " + json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
