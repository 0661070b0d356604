"""One small exception hierarchy, so callers catch datacat's errors at the level they care about.

```
DatacatError
├── InvalidData        (also a ValueError) refused by the client before anything was sent
├── TransportError     the server could not be reached or did not answer
│   ├── ConnectError
│   └── Timeout
├── APIError           the server answered with an error status; ``.status``, ``.detail``
│   ├── Unauthorized       401 no API key, or an unknown or revoked one
│   ├── Forbidden          403 the key's scope does not allow the call
│   ├── NotFound           404 unknown session
│   ├── PayloadTooLarge    413
│   ├── Unprocessable      422 the server refused the body; ``.detail`` says which field
│   └── ServerError        5xx
└── DeliveryError      batched items that were given up on (``.count``, ``.cause``)
```

httpx's own exceptions never reach the caller: ``_core`` maps them onto this tree.
"""

from __future__ import annotations

from typing import Any


class DatacatError(Exception):
    """Base of everything the datacat client raises or records in ``Session.errors``."""


class InvalidData(DatacatError, ValueError):
    """The call's arguments can never be accepted (bad name, non-finite value, not JSON)."""


class TransportError(DatacatError):
    """No HTTP answer: connection refused or reset, DNS failure, timeout. Worth retrying."""


class ConnectError(TransportError):
    pass


class Timeout(TransportError):
    pass


class APIError(DatacatError):
    """The server answered ``status`` with ``{"detail": detail}``."""

    def __init__(self, status: int, detail: Any, message: str | None = None) -> None:
        self.status = status
        self.detail = detail
        super().__init__(message or f"HTTP {status}: {detail}")


class Unauthorized(APIError):
    """401: the server wants a key this client does not have (none, unknown or revoked).

    Never retried: the same key will be refused again. The message names the cause, never
    the key."""

    def __init__(self, status: int, detail: Any, message: str | None = None) -> None:
        super().__init__(status, detail, message or f"authentication failed (401): {detail}")


class Forbidden(APIError):
    """403: the key is valid but its scope does not allow this call (a read key writing)."""

    def __init__(self, status: int, detail: Any, message: str | None = None) -> None:
        super().__init__(status, detail, message or f"forbidden (403): {detail}")


AUTH_ERRORS = (Unauthorized, Forbidden)


class NotFound(APIError):
    pass


class PayloadTooLarge(APIError):
    pass


class Unprocessable(APIError):
    pass


class ServerError(APIError):
    pass


class DeliveryError(DatacatError):
    """``count`` batched items were dropped; ``cause`` is why (an APIError, overflow, exit)."""

    def __init__(self, message: str, count: int = 1, cause: BaseException | None = None) -> None:
        self.count = count
        self.cause = cause
        super().__init__(message)


_BY_STATUS: dict[int, type[APIError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    413: PayloadTooLarge,
    422: Unprocessable,
}


def api_error(status: int, detail: Any) -> APIError:
    """The most specific APIError subclass for an HTTP error status."""
    if status >= 500:
        return ServerError(status, detail)
    return _BY_STATUS.get(status, APIError)(status, detail)
