"""One small exception hierarchy, so callers catch datacat's errors at the level they care about.

```
DatacatError
├── InvalidData        (also a ValueError) refused by the client before anything was sent
├── TransportError     the server could not be reached or did not answer
│   ├── ConnectError
│   └── Timeout
├── APIError           the server answered with an error status; ``.status``, ``.detail``
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


_BY_STATUS: dict[int, type[APIError]] = {404: NotFound, 413: PayloadTooLarge, 422: Unprocessable}


def api_error(status: int, detail: Any) -> APIError:
    """The most specific APIError subclass for an HTTP error status."""
    if status >= 500:
        return ServerError(status, detail)
    return _BY_STATUS.get(status, APIError)(status, detail)
