"""Everything about a request that is not I/O, written once for both faces (httpx's BaseClient).

Each API call is built as a :class:`Call` — method, path, JSON body, and the decoder that
turns a successful answer into the call's result type — after its arguments are validated;
``DatacatClient`` sends it blocking and ``AsyncDatacatClient`` awaits it, and both hand the
response back to ``_parse``. Because a ``Call[T]`` carries its result type, ``_send`` is
typed ``Call[T] -> T`` on both faces and each public method's return type is checked.

The API key (``api_key=``, else ``$DATACAT_API_KEY``) becomes a default header of the face's
httpx client, so every request — direct calls, batches, keep-alives — carries it, and it is
kept nowhere else: httpx masks ``Authorization`` in its reprs, and no message of ours
quotes it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from datacat_client import _validate
from datacat_client._exceptions import (
    APIError,
    ConnectError,
    DatacatError,
    InvalidData,
    Timeout,
    TransportError,
    Unauthorized,
    api_error,
)
from datacat_client._json import dumps, loads, rfc3339
from datacat_client._payloads import ExcInfo, exception_data
from datacat_client._types import JSONObject, Tags

DEFAULT_URL = "http://localhost:8080"
API_KEY_ENV = "DATACAT_API_KEY"
NO_KEY_HINT = f"no API key was sent: pass api_key= or set {API_KEY_ENV}"
Timestamp = datetime | float | str | None
T = TypeVar("T")
Result = TypeVar("Result", covariant=True)


@dataclass(frozen=True)
class Call(Generic[Result]):
    """One API call: what to send, and how a successful answer becomes the result.

    Covariant, so code that only sends a call and ignores its result takes ``Call[object]``.
    """

    method: str
    path: str
    body: bytes | None
    decode: Callable[[Any], Result]


# Decoders: the answer's JSON as the shape the API promises. A different shape (a proxy or
# another service answering 200) raises TypeError/KeyError, which ``_parse`` reports as an
# APIError instead of handing the caller a value of the wrong type.
def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise TypeError(f"expected a JSON object, got {type(body).__name__}")
    return body


def _objects(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise TypeError(f"expected a JSON array, got {type(body).__name__}")
    return body


def _session_id(body: Any) -> str:
    return str(_object(body)["session_id"])


@dataclass(frozen=True)
class Outcome:
    """What one send of a batch came to, for the delivery loop (which never raises)."""

    status: int | None
    body: Any = None
    retry_after: float | None = None
    error: DatacatError | None = None


@contextlib.contextmanager
def mapped_errors() -> Iterator[None]:
    """httpx's exceptions become datacat's, so callers catch one hierarchy."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise Timeout(f"timed out: {exc}") from exc
    except httpx.ConnectError as exc:
        raise ConnectError(f"cannot connect: {exc}") from exc
    except httpx.TransportError as exc:
        raise TransportError(f"{type(exc).__name__}: {exc}") from exc
    except httpx.InvalidURL as exc:
        raise InvalidData(f"invalid URL: {exc}") from exc


def _timestamp(value: Timestamp) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return rfc3339(value.timestamp())
    return rfc3339(float(value))


def _path_id(session_id: str) -> str:
    if not isinstance(session_id, str) or not session_id:
        raise InvalidData(f"a session id must be a non-empty string, not {session_id!r}")
    return quote(session_id, safe="")


def resolve_api_key(api_key: str | None) -> str | None:
    """``api_key``, else ``$DATACAT_API_KEY``; ``""`` means none, whatever the environment.

    Checked here, at construction, because httpx would otherwise refuse a bad header value
    at the first request, quoting it in its error.
    """
    key = os.environ.get(API_KEY_ENV, "") if api_key is None else api_key
    if not isinstance(key, str):
        raise InvalidData(f"api_key must be a string, not {type(key).__name__}")
    key = key.strip()
    if not key:
        return None
    if not (key.isascii() and key.isprintable()) or " " in key:
        raise InvalidData("api_key must be printable ASCII without spaces (key not shown)")
    return key


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


class BaseClient:
    """Configuration, request building and response parsing shared by both faces."""

    def __init__(
        self, base_url: str = DEFAULT_URL, *, timeout: float = 10.0, api_key: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._api_key = resolve_api_key(api_key)

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    def __repr__(self) -> str:
        key = " with an API key" if self.has_api_key else ""
        return f"<{type(self).__name__} {self.base_url}{key}>"

    # -- building -------------------------------------------------------------------
    def _build_register(
        self,
        product: str | None,
        version: str | None,
        host: str | None,
        metadata: JSONObject | None,
        heartbeat_timeout: float | None,
    ) -> Call[str]:
        fields = {"product": product, "version": version, "host": host}
        body: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
        if metadata is not None:
            _validate.json_object_bytes(metadata, what="metadata")
            body["metadata"] = metadata
        if heartbeat_timeout is not None:
            body["heartbeat_timeout"] = float(heartbeat_timeout)
        # The seed posted no body; send one only when there is something to say.
        return Call("POST", "/api/sessions", dumps(body) if body else None, _session_id)

    def _build_get_session(self, session_id: str) -> Call[JSONObject]:
        return Call("GET", f"/api/sessions/{_path_id(session_id)}", None, _object)

    def _build_update_state(self, session_id: str, state: JSONObject) -> Call[JSONObject]:
        body = _validate.json_object_bytes(state)
        return Call("POST", f"/api/sessions/{_path_id(session_id)}/state", body, _object)

    def _build_log_event(
        self,
        session_id: str,
        name: str,
        data: Any = None,
        timestamp: Timestamp = None,
        client_id: str | None = None,
        fields: JSONObject | None = None,
    ) -> Call[JSONObject]:
        """``fields``: the optional level/message/category/labels (``_validate.event_fields``)."""
        body: dict[str, Any] = {"name": _validate.name(name)}
        extras = {"timestamp": _timestamp(timestamp), "id": client_id}
        body.update((k, v) for k, v in extras.items() if v is not None)
        if fields:
            body.update(fields)
        data_bytes = _validate.json_bytes({} if data is None else data)
        content = dumps(body)[:-1] + b',"data":' + data_bytes + b"}"
        return Call("POST", f"/api/sessions/{_path_id(session_id)}/events", content, _object)

    def _build_log_metric(
        self,
        session_id: str,
        name: str,
        value: float,
        tags: Tags = None,
        timestamp: Timestamp = None,
        client_id: str | None = None,
        fields: JSONObject | None = None,
    ) -> Call[JSONObject]:
        """``fields``: the optional kind/unit (``_validate.metric_fields``)."""
        body: dict[str, Any] = {
            "name": _validate.name(name),
            "value": _validate.number(value),
            "tags": _validate.tags(tags),
        }
        extras = {"timestamp": _timestamp(timestamp), "id": client_id}
        body.update((k, v) for k, v in extras.items() if v is not None)
        if fields:
            body.update(fields)
        path = f"/api/sessions/{_path_id(session_id)}/metrics"
        return Call("POST", path, dumps(body), _object)

    def _build_log_exception(
        self,
        session_id: str,
        exc_info: ExcInfo | BaseException | None,
        extra_data: JSONObject | None,
        fatal: bool,
    ) -> Call[JSONObject]:
        data = exception_data(exc_info, extra_data, fatal=fatal)
        return self._build_log_event(session_id, "exception", data)

    def _build_end(self, session_id: str, status: str) -> Call[JSONObject]:
        if status not in ("ended", "crashed"):
            raise InvalidData(f"an end status is 'ended' or 'crashed', not {status!r}")
        body = dumps({"status": status}) if status != "ended" else None
        return Call("POST", f"/api/sessions/{_path_id(session_id)}/end", body, _object)

    def _build_heartbeat(self, session_id: str, timeout: float | None) -> Call[JSONObject]:
        body = None if timeout is None else dumps({"timeout": float(timeout)})
        return Call("POST", f"/api/sessions/{_path_id(session_id)}/heartbeat", body, _object)

    def _build_all_sessions(self) -> Call[list[JSONObject]]:
        return Call("GET", "/api/grafana/sessions", None, _objects)

    def _build_batch(self, items: list[JSONObject]) -> Call[JSONObject]:
        return Call("POST", "/api/batch", dumps({"items": items}), _object)

    # -- parsing --------------------------------------------------------------------
    def _api_error(self, response: httpx.Response) -> APIError:
        """The matching APIError; a 401 to a client without a key says how to give one."""
        status, detail = response.status_code, _detail(response)
        if status == 401 and not self.has_api_key:
            return Unauthorized(
                status, detail, f"authentication failed (401): {detail}; {NO_KEY_HINT}"
            )
        return api_error(status, detail)

    def _parse(self, call: Call[T], response: httpx.Response) -> T:
        """The call's result, or the matching APIError for an error status."""
        if response.status_code >= 400:
            raise self._api_error(response)
        body = loads(response.content)
        try:
            return call.decode(body)
        except (TypeError, KeyError) as exc:
            message = f"unexpected answer to {call.method} {call.path}: {exc}"
            raise APIError(response.status_code, body, message) from exc

    def _outcome(self, response: httpx.Response) -> Outcome:
        status = response.status_code
        if status in (401, 403):  # the delivery loop reports this error as is, hint and all
            error = self._api_error(response)
            return Outcome(status, error.detail, error=error)
        if status >= 400:
            return Outcome(status, _detail(response), _retry_after(response))
        return Outcome(status, loads(response.content))

    def _http_options(self) -> dict[str, Any]:
        headers = {"content-type": "application/json", "user-agent": "datacat-client"}
        if self._api_key is not None:
            headers["authorization"] = f"Bearer {self._api_key}"
        return {"base_url": self.base_url, "timeout": self.timeout, "headers": headers}


def _detail(response: httpx.Response) -> Any:
    try:
        return loads(response.content)["detail"]
    except Exception:  # not our JSON (a proxy's error page): keep a short excerpt
        return response.text[:200]
