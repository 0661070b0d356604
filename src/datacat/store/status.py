"""How events and liveness move a session between statuses — pure rules, no I/O.

``active`` → ``hung`` when the client's monitor reports ``application_appears_hung``, and back
on ``application_recovered``; ``crashed`` on a fatal ``exception`` event or an end marked
crashed; ``abandoned`` when keep-alives stop for longer than the session's timeout (the
sweeper); ``ended`` on a clean end. ``ended`` and ``crashed`` are final: late writes after
them are stored but do not change the status.
"""

from __future__ import annotations

from typing import Any

ACTIVE = "active"
ENDED = "ended"
HUNG = "hung"
CRASHED = "crashed"
ABANDONED = "abandoned"
STATUSES = (ACTIVE, ENDED, HUNG, CRASHED, ABANDONED)
FINAL = frozenset({ENDED, CRASHED})

HUNG_EVENT = "application_appears_hung"
RECOVERED_EVENT = "application_recovered"
EXCEPTION_EVENT = "exception"


def status_after_event(current: str, name: str, data: Any) -> str:
    if current in FINAL:
        return current
    if name == EXCEPTION_EVENT and isinstance(data, dict) and data.get("fatal") is True:
        return CRASHED
    if name == HUNG_EVENT:
        return HUNG
    if name == RECOVERED_EVENT:
        return ACTIVE
    return current


def event_changes_status(name: str) -> bool:
    """Cheap pre-check so the common event needs no status bookkeeping at all."""
    return name in (HUNG_EVENT, RECOVERED_EVENT, EXCEPTION_EVENT)


def status_after_keepalive(current: str) -> str:
    """A keep-alive proves the process is alive: an abandoned session comes back."""
    return ACTIVE if current == ABANDONED else current


def status_after_end(current: str, crashed: bool) -> str:
    if current == CRASHED or crashed:
        return CRASHED
    return ENDED
