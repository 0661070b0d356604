"""``DatacatHandler``: the standard ``logging`` module as a source of ``log`` events."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datacat_client._async_session import AsyncSession
    from datacat_client._session import Session
    from datacat_client._types import EventLevel

from datacat_client._validate import MAX_MESSAGE

# The client's own logs (and its HTTP stack's) must not feed back into the client.
_OWN_LOGGERS = ("datacat_client", "httpx", "httpcore")


def event_level(levelno: int) -> EventLevel:
    """A logging level as an event level; custom levels round down to the nearest standard."""
    if levelno >= logging.CRITICAL:
        return "critical"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


class DatacatHandler(logging.Handler):
    """Ships each record as a ``log`` event: level, logger, message, source, exception text.

    The event's ``level`` is the record's (``debug`` .. ``critical``) and its ``message`` the
    formatted record message (cut at the server's 8192 characters; ``data`` keeps it whole),
    so log events can be filtered and searched like any levelled event.

    ``logging.getLogger().addHandler(DatacatHandler(session, level=logging.WARNING))``.
    Works with a :class:`Session` or an :class:`AsyncSession` (whose queue it fills without
    awaiting). Emitting never raises and never blocks on the network.
    """

    def __init__(
        self,
        session: Session | AsyncSession,
        level: int | str = logging.NOTSET,
        *,
        event_name: str = "log",
    ) -> None:
        super().__init__(level)
        self.session = session
        self.event_name = event_name
        self._reentered = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_OWN_LOGGERS) or getattr(self._reentered, "active", False):
            return
        self._reentered.active = True
        try:
            self.session.log_event_nowait(
                self.event_name,
                self.record_data(record),
                level=event_level(record.levelno),
                message=record.getMessage()[:MAX_MESSAGE],
            )
        except Exception:
            self.handleError(record)
        finally:
            self._reentered.active = False

    def record_data(self, record: logging.LogRecord) -> dict[str, Any]:
        data: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "file": record.pathname,
            "line": record.lineno,
            "function": record.funcName,
            "thread": record.threadName,
        }
        if record.exc_info and record.exc_info[0] is not None:
            data["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exception"] = record.exc_text
        return data

    def formatException(self, exc_info: Any) -> str:
        return (self.formatter or logging.Formatter()).formatException(exc_info)
