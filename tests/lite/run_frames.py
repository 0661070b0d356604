"""The lite client's exception frames, run under Python 2.7 and 3 against a real server.

usage: python run_frames.py LITE_DIR SERVER_URL PRODUCT; the last line printed is ``RESULT {json}``
with the session ids, the lines the exceptions passed through, and the lite module's
in-app verdicts on a few paths.
"""

import inspect
import json
import os
import sys


def parse(text):
    return json.loads(text)  # into the standard library


def checkout(step):
    if step == 1:
        parse("{not json")  # first place
    parse("[1,")  # second place, same function


def recurse(depth):
    if depth == 0:
        raise RuntimeError("deep enough")
    recurse(depth - 1)


def line_of(function, needle):
    lines, first = inspect.getsourcelines(function)
    return first + next(i for i, line in enumerate(lines) if needle in line)


def main():
    lite_dir, url, product = sys.argv[1:4]
    sys.path.insert(0, lite_dir)
    import datacat

    client = datacat.DatacatClient(url)
    handled = datacat.Session(client, client.register_session(product=product))
    try:
        checkout(1)
    except ValueError:
        handled.log_exception()
    try:
        handled.log_metric("", 1)  # refused inside the lite module itself
    except datacat.InvalidData as exc:
        handled.log_exception(exc)
    try:
        recurse(datacat.MAX_FRAMES + 30)
    except RuntimeError:
        handled.log_exception(sys.exc_info())
    handled.end()

    crashed_id = None
    try:
        with datacat.create_session(url, product=product) as crashed:
            crashed_id = crashed.session_id
            checkout(2)
    except ValueError:
        pass

    stdlib = os.path.dirname(os.path.dirname(json.__file__))
    verdicts = {
        path: datacat._in_app(path)
        for path in (
            __file__,
            "/srv/app/myapp/worker.py",
            os.path.join(stdlib, "json", "decoder.py"),
            "/opt/venv/lib/python3.12/site-packages/flask/app.py",
            "/usr/lib/python2.7/dist-packages/apt/cache.py",
            "C:\\Python27\\Lib\\site-packages\\requests\\api.py",
            datacat.__file__,
            "<frozen importlib._bootstrap>",
            "<string>",
            stdlib + "-mine/app.py",
        )
    }
    out = {
        "handled_id": handled.session_id,
        "crashed_id": crashed_id,
        "file": os.path.abspath(__file__),
        "lines": {
            "main_try": line_of(main, "checkout(1)"),
            "main_with": line_of(main, "checkout(2)"),
            "first": line_of(checkout, "first place"),
            "second": line_of(checkout, "second place"),
            "parse": line_of(parse, "json.loads(text)"),
            "raise": line_of(recurse, "raise RuntimeError"),
        },
        "verdicts": verdicts,
    }
    sys.stdout.write("RESULT " + json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
