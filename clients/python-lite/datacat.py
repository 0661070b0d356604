"""datacat lite: the datacat Python client for any interpreter from 2.7, standard library only.

The original datacat client's API, unchanged::

    from datacat import create_session

    session = create_session("http://localhost:8080")
    session.update_state({"status": "running"})
    session.log_event("started", {"user": "alice"})
    session.log_metric("cpu_usage", 45.2, tags=["host:server1"])
    print(session.get_details())
    session.end()

Every call is synchronous and sends one HTTP request. What it adds to the original:

- each event and metric carries a client-made ``id`` and its call-time ``timestamp``,
  so a call resent after a lost answer is stored once;
- a connection error is retried once (never a 401/403: the same key is refused again);
- an API key (``api_key=``, default ``$DATACAT_API_KEY``) goes with every request as
  ``Authorization: Bearer KEY``; it is never shown in reprs, logs or error messages;
- the heartbeat monitor also sends keep-alives to ``POST /api/sessions/{id}/heartbeat``,
  so the server can tell a hung application (keep-alives continue) from a dead one;
- errors form one small tree::

    DatacatError
    +-- InvalidData     (also a ValueError) refused before anything was sent
    +-- TransportError  the server could not be reached (after one retry)
    +-- APIError        the server answered an error status: .status, .detail
        +-- Unauthorized    401 (no key, or an unknown or revoked one)
        +-- Forbidden       403 (the key's scope does not allow the call)
        +-- NotFound        404
        +-- Unprocessable   422

This module and the full ``datacat`` package both provide ``import datacat``: install one
of them per environment, not both.
"""

from __future__ import absolute_import, division, print_function

import datetime
import json
import logging
import math
import os
import socket
import sys
import sysconfig
import threading
import time
import traceback
import uuid

try:  # Python 3
    from http.client import HTTPException
    from urllib.error import HTTPError, URLError
    from urllib.parse import quote
    from urllib.request import Request, urlopen

    string_types = (str,)
    integer_types = (int,)
except ImportError:  # Python 2
    from httplib import HTTPException  # noqa: F401
    from urllib import quote  # noqa: F401
    from urllib2 import HTTPError, Request, URLError, urlopen  # noqa: F401

    string_types = (str, unicode)  # noqa: F821
    integer_types = (int, long)  # noqa: F821

__version__ = "0.1.0"
__all__ = [
    "APIError",
    "DatacatClient",
    "DatacatError",
    "Forbidden",
    "HeartbeatMonitor",
    "InvalidData",
    "NotFound",
    "Session",
    "TransportError",
    "Unauthorized",
    "Unprocessable",
    "create_session",
]

DEFAULT_URL = "http://localhost:8080"
API_KEY_ENV = "DATACAT_API_KEY"
NO_KEY_HINT = "no API key was sent: pass api_key= or set " + API_KEY_ENV
HUNG_EVENT = "application_appears_hung"
RECOVERED_EVENT = "application_recovered"
USER_AGENT = "datacat-lite/" + __version__

log = logging.getLogger("datacat")
_monotonic = getattr(time, "monotonic", time.time)


# -- errors -------------------------------------------------------------------------------
class DatacatError(Exception):
    """Base of everything this client raises."""


class InvalidData(DatacatError, ValueError):
    """The arguments can never be accepted (empty name, non-finite value, not JSON)."""


class TransportError(DatacatError):
    """No HTTP answer (connection refused or reset, timeout), even after one retry."""


class APIError(DatacatError):
    """The server answered ``status`` with ``{"detail": detail}``."""

    def __init__(self, status, detail, message=None):
        self.status = status
        self.detail = detail
        DatacatError.__init__(self, message or "HTTP %s: %s" % (status, detail))


class Unauthorized(APIError):
    """401: no API key, or one the server does not know (or has revoked). Not retried."""

    def __init__(self, status, detail, message=None):
        message = message or "authentication failed (401): %s" % (detail,)
        APIError.__init__(self, status, detail, message)


class Forbidden(APIError):
    """403: the key's scope does not allow the call (a read key writing). Not retried."""

    def __init__(self, status, detail, message=None):
        APIError.__init__(self, status, detail, message or "forbidden (403): %s" % (detail,))


class NotFound(APIError):
    """404: no such session."""


class Unprocessable(APIError):
    """422: the server refused the body; ``detail`` names the field."""


def _api_error(status, detail, has_key=True):
    if status == 401 and not has_key:
        message = "authentication failed (401): %s; %s" % (detail, NO_KEY_HINT)
        return Unauthorized(status, detail, message)
    cls = {401: Unauthorized, 403: Forbidden, 404: NotFound, 422: Unprocessable}.get(status)
    return (cls or APIError)(status, detail)


# -- small pure helpers -------------------------------------------------------------------
_EPOCH = datetime.datetime(1970, 1, 1)
_RFC3339 = "%Y-%m-%dT%H:%M:%S.%fZ"


def _utc(unix_time):
    """A Unix time as a naive UTC ``datetime`` (``utcfromtimestamp`` without its warning)."""
    return _EPOCH + datetime.timedelta(seconds=unix_time)


def _now_rfc3339():
    """The current time as ``2026-01-01T00:00:00.123456Z`` (UTC)."""
    return _utc(time.time()).strftime(_RFC3339)


def _timestamp(value):
    """None (now), an RFC 3339 string, a ``datetime`` (naive = UTC) or a Unix time."""
    if value is None:
        return _now_rfc3339()
    if isinstance(value, string_types):
        return value
    if isinstance(value, datetime.datetime):
        offset = value.utcoffset()
        value = value.replace(tzinfo=None) - offset if offset is not None else value
    else:
        value = _utc(_number(value))
    return value.strftime(_RFC3339)


def _new_id():
    return uuid.uuid4().hex


def _dumps(value):
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidData("not JSON-serialisable: %s" % exc)
    return text.encode("utf-8") if not isinstance(text, bytes) else text


def _name(value):
    if not isinstance(value, string_types) or not value:
        raise InvalidData("a name must be a non-empty string, not %r" % (value,))
    return value


def _number(value):
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise InvalidData("a metric value must be a number, not %r" % (value,))
    if math.isinf(result) or math.isnan(result):
        raise InvalidData("a metric value must be finite, not %r" % (result,))
    return result


def _tags(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        if not all(isinstance(tag, string_types) for tag in value):
            raise InvalidData("tags must be strings")
        return list(value)
    raise InvalidData("tags must be a list of strings, not %s" % type(value).__name__)


METRIC_KINDS = ("gauge", "counter", "timer", "histogram")
EVENT_LEVELS = ("debug", "info", "warning", "error", "critical")


def _text(value, what, low, high):
    if not isinstance(value, string_types) or not low <= len(value) <= high:
        raise InvalidData(
            "%s must be a string of %d..%d characters, not %r" % (what, low, high, value)
        )
    return value


def _metric_fields(body, kind, unit):
    """Issue 12's optional fields, added only when given (the seed's body stays as it was)."""
    if kind is not None:
        if kind not in METRIC_KINDS:
            raise InvalidData(
                "a metric kind is one of %s, not %r" % (", ".join(METRIC_KINDS), kind)
            )
        body["kind"] = kind
    if unit is not None:
        body["unit"] = _text(unit, "a metric unit", 1, 64)
    return body


def _event_fields(body, level, message, category, labels):
    if level is not None:
        if level not in EVENT_LEVELS:
            raise InvalidData(
                "an event level is one of %s, not %r" % (", ".join(EVENT_LEVELS), level)
            )
        body["level"] = level
    if message is not None:
        body["message"] = _text(message, "an event message", 0, 8192)
    if category is not None:
        body["category"] = _text(category, "an event category", 0, 256)
    if labels is not None:
        if not isinstance(labels, (list, tuple)):
            raise InvalidData("labels must be a list of strings, not %s" % type(labels).__name__)
        body["labels"] = [_text(label, "a label", 0, 256) for label in labels]
    return body


MAX_BUCKETS = 64  # the server's limits on a pre-aggregated histogram (datacat.histogram)
MAX_COUNT = 2**53


def _is_count(value):
    return isinstance(value, integer_types) and not isinstance(value, bool)


def _bucket(position, bucket):
    """One ``(le, count)`` pair (or ``{"le": ..., "count": ...}``), ``le`` None for +Inf."""
    if isinstance(bucket, dict):
        le, n = bucket.get("le"), bucket.get("count")
    elif isinstance(bucket, (list, tuple)) and len(bucket) == 2:
        le, n = bucket
    else:
        raise InvalidData(
            "histogram bucket %d must be an (le, count) pair, not %r" % (position, bucket)
        )
    if le is not None:
        if isinstance(le, bool) or not isinstance(le, (float, integer_types)):
            raise InvalidData(
                "histogram bucket %d: le must be a number or None, not %r" % (position, le)
            )
        try:
            le = float(le)
        except OverflowError:  # an int beyond any double
            raise InvalidData("histogram bucket %d: le is beyond any float" % position)
        if le == float("inf"):
            le = None
        elif math.isinf(le) or math.isnan(le):
            raise InvalidData(
                "histogram bucket %d: le must be finite or None (+Inf), not %r" % (position, le)
            )
    if not _is_count(n) or not 0 <= n <= MAX_COUNT:
        raise InvalidData("histogram bucket %d: a count is an int 0..2**53, not %r" % (position, n))
    return le, n


def _histogram_fields(buckets, total, count, unit):
    """A pre-aggregated histogram's body fields (kind, unit, buckets, sum, count), held to
    the server's rules so a bad one is refused before sending, as the full client does.

    ``buckets`` is a list of ``(le, count)`` pairs (or ``{"le", "count"}`` dicts) in
    increasing ``le``; each count is that bucket's own, not a running total; ``le`` None (or
    ``float("inf")``) is +Inf, last only. ``count`` defaults to the buckets' total. A dict
    ``{le: count}`` is refused: Python 2 does not keep its order.
    """
    if not isinstance(buckets, (list, tuple)):
        raise InvalidData(
            "histogram buckets must be a list of (le, count) pairs, not %s" % type(buckets).__name__
        )
    if not 1 <= len(buckets) <= MAX_BUCKETS:
        raise InvalidData("a histogram has 1..%d buckets, got %d" % (MAX_BUCKETS, len(buckets)))
    out = []
    previous = None
    counted = 0
    for position, bucket in enumerate(buckets):
        le, n = _bucket(position, bucket)
        if le is None:
            if position != len(buckets) - 1:
                raise InvalidData("only the last histogram bucket may be +Inf (le None)")
        else:
            if previous is not None and le <= previous:
                raise InvalidData(
                    "histogram bucket bounds (le) must strictly increase: %r after %r"
                    % (le, previous)
                )
            previous = le
        out.append({"le": le, "count": n})
        counted += n
    if count is None:
        count = counted
    if not _is_count(count) or count != counted:
        raise InvalidData(
            "histogram count %r is not the sum of its buckets (%d)" % (count, counted)
        )
    if count > MAX_COUNT:
        raise InvalidData("a histogram counts at most 2**53 observations, not %d" % count)
    try:
        total = float(total)
    except (TypeError, ValueError, OverflowError):
        raise InvalidData("a histogram sum must be a number, not %r" % (total,))
    if math.isinf(total) or math.isnan(total):
        raise InvalidData("a histogram sum must be finite, not %r" % (total,))
    fields = {"kind": "histogram", "buckets": out, "sum": total, "count": count}
    if unit is not None:
        fields["unit"] = _text(unit, "a metric unit", 1, 64)
    return fields


def _histogram_value(fields):
    """What a histogram sends as ``value``: its mean, 0 when empty (the server stores the same)."""
    return fields["sum"] / fields["count"] if fields["count"] else 0.0


def _api_key(value):
    """``value``, else ``$DATACAT_API_KEY``; ``""`` means no key, whatever the environment.

    Checked at construction: a bad header value would otherwise fail at the first request
    with the value in the message.
    """
    key = os.environ.get(API_KEY_ENV, "") if value is None else value
    if not isinstance(key, string_types):
        raise InvalidData("api_key must be a string, not %s" % type(key).__name__)
    key = key.strip()
    if not key:
        return None
    if any(not 33 <= ord(char) <= 126 for char in key):
        raise InvalidData("api_key must be printable ASCII without spaces (key not shown)")
    return str(key)


def _path_id(session_id):
    if not isinstance(session_id, string_types) or not session_id:
        raise InvalidData("a session id must be a non-empty string, not %r" % (session_id,))
    if not isinstance(session_id, str):  # Python 2 unicode
        session_id = session_id.encode("utf-8")
    return quote(session_id, safe="")


# -- exception frames ----------------------------------------------------------------------
MAX_FRAMES = 100  # frames sent at most: a deeper traceback keeps its innermost ones
_LIBRARY_MARKERS = ("site-packages", "dist-packages")


def _own_file():
    path = os.path.abspath(__file__)
    if path.endswith((".pyc", ".pyo")):  # Python 2 names the compiled file
        path = path[:-1]
    return os.path.normcase(path)


def _library_roots():
    """Directories whose files are never the application's, each ending in a separator.

    The standard library and the installed packages, as sysconfig names them, in their
    configured and their resolved form (a frame's file is the path it was imported by).
    """
    try:
        paths = sysconfig.get_paths()
    except Exception:  # an odd embedded interpreter: fall back to the path markers alone
        paths = {}
    roots = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            for form in (os.path.normpath(paths[key]), os.path.realpath(paths[key])):
                roots.add(os.path.normcase(form).rstrip(os.sep) + os.sep)
    return tuple(sorted(roots))


_OWN_FILE = _own_file()
_LIBRARY_ROOTS = _library_roots()


def _in_app(filename):
    """Whether a frame in ``filename`` is the application's own code.

    Not the standard library, not site-packages/dist-packages, not this module, not a
    pseudo file such as ``<frozen importlib._bootstrap>`` or ``<string>``.
    """
    if not filename or filename.startswith("<"):
        return False
    path = os.path.normcase(os.path.abspath(filename))  # Python 2 may give a relative one
    parts = path.replace("\\", "/").split("/")
    if any(marker in parts for marker in _LIBRARY_MARKERS):
        return False
    return path != _OWN_FILE and not path.startswith(_LIBRARY_ROOTS)


def _frames(tb):
    """The traceback's frames, outermost first, and how many were left off the front.

    Each is ``{"file", "line", "function", "module", "in_app"}``: ``module`` is the frame's
    ``__name__``, ``function`` the code's plain name: what the full client sends, so the
    server groups an exception alike whichever client reported it.
    """
    walked = []
    while tb is not None:
        walked.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    omitted = max(0, len(walked) - MAX_FRAMES)
    frames = []
    for frame, line in walked[omitted:]:
        code = frame.f_code
        module = frame.f_globals.get("__name__")
        frames.append(
            {
                "file": code.co_filename,
                "line": line,
                "function": code.co_name,
                "module": module if isinstance(module, string_types) else None,
                "in_app": _in_app(code.co_filename),
            }
        )
    return frames, omitted


def _exception_data(exc_info=None, extra_data=None, fatal=False):
    """The data of an ``exception`` event: ``type``, ``message``, ``traceback`` lines and
    ``frames`` (``frames_omitted`` when over :data:`MAX_FRAMES`)."""
    if exc_info is None:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        current = sys.exc_info()
        tb = getattr(exc_info, "__traceback__", None)
        if tb is None and current[1] is exc_info:  # Python 2: the exception being handled
            tb = current[2]
        exc_info = (type(exc_info), exc_info, tb)
    exc_type, exc_value, exc_tb = exc_info
    if exc_type is None:
        data = {"type": "Unknown", "message": "", "traceback": []}
    else:
        try:
            message = str(exc_value)
        except Exception:  # a broken __str__ must not stop the report
            message = "<unprintable %s>" % exc_type.__name__
        lines = traceback.format_exception(exc_type, exc_value, exc_tb)
        frames, omitted = _frames(exc_tb)
        data = {
            "type": exc_type.__name__,
            "message": message,
            "traceback": "".join(lines).splitlines(),
            "frames": frames,
        }
        if omitted:
            data["frames_omitted"] = omitted
        if exc_type.__module__ not in ("builtins", "exceptions", "__main__"):
            data["module"] = exc_type.__module__
    if fatal:
        data["fatal"] = True
    if extra_data:
        data.update(extra_data)
    return data


# -- the client ---------------------------------------------------------------------------
class DatacatClient(object):
    """One blocking HTTP call per method; errors raise :class:`DatacatError` subclasses.

    ``api_key`` defaults to ``$DATACAT_API_KEY`` (``""``: send none).
    """

    def __init__(self, base_url=DEFAULT_URL, timeout=10.0, api_key=None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._authorization = None
        key = _api_key(api_key)
        if key is not None:
            self._authorization = "Bearer " + key

    @property
    def has_api_key(self):
        return self._authorization is not None

    def __repr__(self):
        key = " with an API key" if self.has_api_key else ""
        return "<DatacatClient %s%s>" % (self.base_url, key)

    # -- transport ----------------------------------------------------------------------
    def _request(self, method, path, body=None):
        """Send once, and once more on a connection error; return the parsed JSON answer.

        Resending is safe: events and metrics carry an id the server stores once, a state
        patch merges to the same result, and ending twice is harmless. An error answer (a
        401 or 403 included) is raised at once: it would be the same again.
        """
        data = b"" if body is None and method == "POST" else body
        try:
            return self._send(method, path, data)
        except TransportError as exc:
            log.debug("datacat: %s %s failed (%s); retrying once", method, path, exc)
            time.sleep(0.05)
            return self._send(method, path, data)

    def _send(self, method, path, data):
        request = Request(self.base_url + path, data=data)
        request.get_method = lambda: method
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", USER_AGENT)
        if self._authorization is not None:
            request.add_header("Authorization", self._authorization)
        try:
            response = urlopen(request, timeout=self.timeout)
            try:
                raw = response.read()
            finally:
                response.close()
        except HTTPError as exc:
            raise _api_error(exc.code, _error_detail(exc), self.has_api_key)
        except (URLError, HTTPException, socket.error) as exc:  # socket.timeout is one too
            reason = getattr(exc, "reason", None) or exc
            raise TransportError("cannot reach %s: %s" % (self.base_url, reason))
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError:
            raise APIError(200, raw[:200].decode("utf-8", "replace"), "answer is not JSON")

    # -- the original API ---------------------------------------------------------------
    def register_session(
        self, product=None, version=None, host=None, metadata=None, heartbeat_timeout=None
    ):
        """Open a session; returns its id."""
        fields = {"product": product, "version": version, "host": host, "metadata": metadata}
        body = dict((k, v) for k, v in fields.items() if v is not None)
        if heartbeat_timeout is not None:
            body["heartbeat_timeout"] = _number(heartbeat_timeout)
        answer = self._request("POST", "/api/sessions", _dumps(body) if body else None)
        return answer["session_id"]

    def get_session(self, session_id):
        """The session object: id, times, active, state, events, metrics, status, ..."""
        return self._request("GET", "/api/sessions/" + _path_id(session_id))

    def update_state(self, session_id, state):
        """Deep-merge ``state`` (a dict) into the session's state."""
        if not isinstance(state, dict):
            raise InvalidData("state must be a dict, not %s" % type(state).__name__)
        path = "/api/sessions/%s/state" % _path_id(session_id)
        return self._request("POST", path, _dumps(state))

    def log_event(
        self,
        session_id,
        name,
        data=None,
        timestamp=None,
        id=None,
        level=None,
        message=None,
        category=None,
        labels=None,
    ):
        """An event; ``data`` is any JSON value.

        ``timestamp`` (RFC 3339 string, ``datetime`` or Unix time) defaults to now and ``id``
        to a fresh uuid4: a resend with the same ``id`` is stored once. ``level`` (debug,
        info, warning, error, critical; the server's default is info), ``message`` (one
        searchable line), ``category`` and ``labels`` (strings) are optional.
        """
        body = {
            "name": _name(name),
            "data": {} if data is None else data,
            "timestamp": _timestamp(timestamp),
            "id": id or _new_id(),
        }
        _event_fields(body, level, message, category, labels)
        path = "/api/sessions/%s/events" % _path_id(session_id)
        return self._request("POST", path, _dumps(body))

    def log_metric(
        self, session_id, name, value, tags=None, timestamp=None, id=None, kind=None, unit=None
    ):
        """A numeric sample with optional string tags, ``kind`` (gauge, counter, timer,
        histogram; the server's default is gauge) and ``unit`` (free text: ms, bytes, %)."""
        body = {
            "name": _name(name),
            "value": _number(value),
            "tags": _tags(tags),
            "timestamp": _timestamp(timestamp),
            "id": id or _new_id(),
        }
        _metric_fields(body, kind, unit)
        path = "/api/sessions/%s/metrics" % _path_id(session_id)
        return self._request("POST", path, _dumps(body))

    def log_histogram(
        self,
        session_id,
        name,
        buckets,
        sum,
        count=None,
        tags=None,
        timestamp=None,
        id=None,
        unit=None,
    ):
        """Many observations at once, pre-aggregated (a hot loop's frame times): ``buckets``
        as ``[(16.7, 950), (33.3, 40), (None, 10)]`` (each bucket's own count, ``le`` None =
        +Inf, last), their ``sum``; ``count`` defaults to the buckets' total. Sent as one
        metric of kind histogram whose value is the mean; the server's percentiles
        interpolate within the buckets. Bad buckets raise :class:`InvalidData`, unsent."""
        fields = _histogram_fields(buckets, sum, count, unit)
        body = {
            "name": _name(name),
            "value": _histogram_value(fields),
            "tags": _tags(tags),
            "timestamp": _timestamp(timestamp),
            "id": id or _new_id(),
        }
        body.update(fields)
        path = "/api/sessions/%s/metrics" % _path_id(session_id)
        return self._request("POST", path, _dumps(body))

    def log_exception(self, session_id, exc_info=None, extra_data=None, fatal=False):
        """An ``exception`` event for the exception being handled (or ``exc_info``).

        ``exc_info`` may be a ``sys.exc_info()`` tuple or an exception; ``fatal=True``
        marks the session crashed. ``extra_data`` is merged into the event's data.
        """
        data = _exception_data(exc_info, extra_data, fatal)
        return self.log_event(session_id, "exception", data)

    def end_session(self, session_id, status="ended"):
        """End the session (``status="crashed"`` for a crash)."""
        if status not in ("ended", "crashed"):
            raise InvalidData("an end status is 'ended' or 'crashed', not %r" % (status,))
        body = _dumps({"status": status}) if status != "ended" else None
        return self._request("POST", "/api/sessions/%s/end" % _path_id(session_id), body)

    def heartbeat(self, session_id, timeout=None):
        """A keep-alive; ``timeout`` (s) arms the server's abandoned-session detection."""
        body = None if timeout is None else _dumps({"timeout": _number(timeout)})
        return self._request("POST", "/api/sessions/%s/heartbeat" % _path_id(session_id), body)

    def get_all_sessions(self):
        """Every session object (``GET /api/grafana/sessions``)."""
        return self._request("GET", "/api/grafana/sessions")


def _error_detail(error):
    try:
        raw = error.read()
    except Exception:
        return error.reason if hasattr(error, "reason") else str(error)
    try:
        return json.loads(raw.decode("utf-8"))["detail"]
    except Exception:  # not our JSON (a proxy's error page): keep a short excerpt
        return raw[:200].decode("utf-8", "replace")


# -- liveness -----------------------------------------------------------------------------
class HeartbeatMonitor(object):
    """Logs ``application_appears_hung`` when ``heartbeat()`` stops for ``timeout`` seconds.

    A daemon thread checks every ``check_interval`` seconds. The hung event is logged once
    per hang; the next ``heartbeat()`` logs ``application_recovered``. The thread also sends
    keep-alives (server-side timeout ``max(30, 3 * check_interval)`` s unless
    ``keepalive_timeout`` is given), so a process that dies goes silent and the server
    marks its session ``abandoned``. A keep-alive refused with 401/403 is logged once as an
    error and ends the keep-alives: the same key would be refused every time.
    """

    def __init__(self, client, session_id, timeout=60, check_interval=5, keepalive_timeout=None):
        self.client = client
        self.session_id = session_id
        self.timeout = timeout
        self.check_interval = check_interval
        self.keepalive_timeout = keepalive_timeout or max(30.0, 3.0 * check_interval)
        self.last_heartbeat = _monotonic()
        self.hung_since = None
        self._lock = threading.Lock()  # guards last_heartbeat and hung_since; held briefly
        self._emit_lock = threading.Lock()  # hung and recovered reach the server in order
        self._stop = threading.Event()
        self._thread = None
        self._keepalive_failing = False
        self._keepalive_refused = False

    def start(self):
        if self.is_running():
            return self
        self._stop.clear()
        with self._lock:
            self.last_heartbeat = _monotonic()
            self.hung_since = None
        self._thread = threading.Thread(target=self._run, name="datacat-heartbeat")
        self._thread.daemon = True
        self._thread.start()
        return self

    def heartbeat(self):
        """The application is alive. Cheap unless it ends a hang (then one request)."""
        now = _monotonic()
        with self._lock:
            self.last_heartbeat = now
            hung_since, self.hung_since = self.hung_since, None
        if hung_since is not None:
            with self._emit_lock:  # after the hung event, never before it
                self._log(RECOVERED_EVENT, {"hung_for_seconds": round(now - hung_since, 3)})

    def stop(self):
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.check_interval + 1)

    def is_running(self):
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._stop.is_set()

    def _run(self):
        self._keepalive()
        while not self._stop.wait(self.check_interval):
            self._check()
            self._keepalive()

    def _check(self):
        with self._emit_lock:
            now = _monotonic()
            with self._lock:
                silent = now - self.last_heartbeat
                if silent <= self.timeout or self.hung_since is not None:
                    return
                self.hung_since = now
            data = {"seconds_since_heartbeat": round(silent, 3), "timeout": self.timeout}
            self._log(HUNG_EVENT, data)

    def _log(self, name, data):
        try:
            # A hang is worth a look (the process may just be busy); a recovery is news.
            level = "warning" if name == HUNG_EVENT else "info"
            self.client.log_event(self.session_id, name, data, level=level)
        except DatacatError as exc:
            log.warning("datacat: could not log %s: %s", name, exc)

    def _keepalive(self):
        if self._keepalive_refused:
            return
        try:
            self.client.heartbeat(self.session_id, self.keepalive_timeout)
        except (Unauthorized, Forbidden) as exc:
            log.error("datacat: keep-alives stopped, the server refused them: %s", exc)
            self._keepalive_refused = True
        except DatacatError as exc:
            if not self._keepalive_failing:
                log.warning("datacat: keep-alive failed (will keep trying): %s", exc)
            self._keepalive_failing = True
        else:
            self._keepalive_failing = False


# -- the session --------------------------------------------------------------------------
class Session(object):
    """One session: ``Session(client, session_id)``, or :func:`create_session`."""

    def __init__(self, client, session_id):
        self.client = client
        self.session_id = session_id
        self.heartbeat_monitor = None

    def __repr__(self):
        return "<Session %s at %s>" % (self.session_id, self.client.base_url)

    def update_state(self, state):
        return self.client.update_state(self.session_id, state)

    def log_event(self, name, data=None, level=None, message=None, category=None, labels=None):
        return self.client.log_event(
            self.session_id,
            name,
            data,
            level=level,
            message=message,
            category=category,
            labels=labels,
        )

    def log_metric(self, name, value, tags=None, kind=None, unit=None):
        return self.client.log_metric(self.session_id, name, value, tags, kind=kind, unit=unit)

    def histogram(self, name, buckets, sum, count=None, tags=None, unit=None):
        """Many observations at once: see :meth:`DatacatClient.log_histogram`."""
        return self.client.log_histogram(
            self.session_id, name, buckets, sum, count, tags, unit=unit
        )

    def log_exception(self, exc_info=None, extra_data=None, fatal=False):
        """An ``exception`` event; call it inside ``except:``."""
        return self.client.log_exception(self.session_id, exc_info, extra_data, fatal)

    def get_details(self):
        return self.client.get_session(self.session_id)

    def start_heartbeat_monitor(self, timeout=60, check_interval=5, keepalive_timeout=None):
        """Start (once) the monitor thread; see :class:`HeartbeatMonitor`."""
        if self.heartbeat_monitor is None:
            self.heartbeat_monitor = HeartbeatMonitor(
                self.client, self.session_id, timeout, check_interval, keepalive_timeout
            )
        return self.heartbeat_monitor.start()

    def heartbeat(self):
        """Tell the monitor the application is alive (a no-op without a monitor)."""
        monitor = self.heartbeat_monitor
        if monitor is not None:
            monitor.heartbeat()

    def stop_heartbeat_monitor(self):
        monitor, self.heartbeat_monitor = self.heartbeat_monitor, None
        if monitor is not None:
            monitor.stop()

    def end(self, status="ended"):
        """Stop the monitor and end the session; returns ``{"status": "ok"}``."""
        self.stop_heartbeat_monitor()
        return self.client.end_session(self.session_id, status)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        """End the session; an escaping exception is logged as fatal and ends it crashed."""
        if exc_type is None:
            self.end()
            return
        try:
            self.log_exception((exc_type, exc, tb), fatal=True)
        finally:
            self.end("crashed")


def create_session(base_url=DEFAULT_URL, **options):
    """Register a session on the server at ``base_url`` and return its :class:`Session`.

    ``api_key`` and ``timeout`` go to :class:`DatacatClient`; the other keyword arguments
    (``product``, ``version``, ``host``, ``metadata``, ``heartbeat_timeout``) to
    :meth:`DatacatClient.register_session`.
    """
    api_key = options.pop("api_key", None)
    timeout = options.pop("timeout", 10.0)
    client = DatacatClient(base_url, timeout, api_key)
    return Session(client, client.register_session(**options))
