"""Crash capture: uncaught exceptions become a fatal ``exception`` event before the process dies.

Both ``sys.excepthook`` (the main thread) and ``threading.excepthook`` (other threads) are
wrapped; the previous hooks still run afterwards, so tracebacks print and other tools'
hooks keep working. A crash in the main thread also ends the session as ``crashed``; a
crashed thread marks the session crashed (the fatal event) and flushes, but the process may
go on, so the session is not ended.
"""

from __future__ import annotations

import logging
import sys
import threading
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datacat_client._session import Session

log = logging.getLogger("datacat_client")


def _record(
    session: Session,
    exc_type: type[BaseException],
    exc: BaseException | None,
    tb: TracebackType | None,
    thread: str,
    end: bool,
) -> None:
    try:
        extra = {"thread": thread, "uncaught": True}
        session.log_exception((exc_type, exc, tb), extra, fatal=True)
        if end:
            session.end("crashed")
        else:
            session.flush(session.client.batch_config.close_timeout)
    except Exception:  # reporting a crash must never hide the crash itself
        log.exception("datacat: could not record an uncaught exception")


def install(session: Session) -> None:
    previous_sys = sys.excepthook
    previous_threading = threading.excepthook

    def sys_hook(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if not issubclass(exc_type, SystemExit):
            _record(session, exc_type, exc, tb, threading.current_thread().name, end=True)
        previous_sys(exc_type, exc, tb)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if not issubclass(args.exc_type, SystemExit):
            name = args.thread.name if args.thread is not None else "unknown"
            _record(session, args.exc_type, args.exc_value, args.exc_traceback, name, end=False)
        previous_threading(args)

    sys.excepthook = sys_hook
    threading.excepthook = thread_hook
