"""Run one seed README example, as a script, with the ``datacat`` found in a directory.

usage: python run_example.py DATACAT_DIR URL EXAMPLE.py

DATACAT_DIR holds the lite client's module (Python 2.7 and 3) or the full package
(``src/``). The example file runs unchanged (``runpy.run_path`` as ``__main__``). Only the
server URL changes: ``create_session``'s default ``http://localhost:8080`` becomes URL.
Names the seed README leaves to the reader are supplied: ``create_session`` (the Session
Lifecycle and Application Monitoring examples continue the earlier ones' import), and for
Heartbeat Monitoring an application loop - ``running`` stays true for DATACAT_EXAMPLE_LOOPS
iterations and the first ``do_work()`` hangs for DATACAT_EXAMPLE_HANG seconds.

The last line printed is ``RESULT {json}``: which ``datacat`` was imported, the Python
version, and the session the example made.
"""

import json
import os
import runpy
import sys
import time


class Running:
    """True for ``loops`` checks, then False: the example's ``while running:``."""

    def __init__(self, loops):
        self.left = loops

    def __bool__(self):
        self.left -= 1
        return self.left >= 0

    __nonzero__ = __bool__  # Python 2


class Work:
    """``do_work()``: the first call hangs (no heartbeat meanwhile), the rest are quick."""

    def __init__(self, hang):
        self.hang = hang
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.calls == 1:
            time.sleep(self.hang)


def main():
    lite_dir, url, example = sys.argv[1:4]
    sys.path.insert(0, lite_dir)
    import datacat

    datacat.create_session.__defaults__ = (url,)
    helpers = {
        "create_session": datacat.create_session,
        "running": Running(int(os.environ.get("DATACAT_EXAMPLE_LOOPS", "2"))),
        "do_work": Work(float(os.environ.get("DATACAT_EXAMPLE_HANG", "0"))),
    }
    names = runpy.run_path(example, init_globals=helpers, run_name="__main__")
    session = names.get("session")
    session_id = session.session_id if session is not None else names.get("session_id")
    result = {
        "datacat_file": os.path.abspath(datacat.__file__),
        "python": list(sys.version_info[:3]),
        "session_id": session_id,
    }
    if "all_sessions" in names:  # Advanced Usage: does the list show what was just logged?
        mine = [s for s in names["all_sessions"] if s["id"] == session_id]
        result["listed"] = [
            [e["name"] for e in s["events"]] + [m["name"] for m in s["metrics"]] for s in mine
        ]
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
