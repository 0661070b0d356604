"""``session.timer(name)``: one timing, as a ``with`` block or a decorator, in milliseconds.

The clock is ``time.perf_counter`` (monotonic: a wall-clock step cannot make a negative
duration). The timing is recorded when the block or call ends, also when it raises — a
slow failure is still a slow call. Recording goes through the session's queue like any
other metric (kind ``timer``, unit ``ms``), so it never raises into the timed code.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Timer:
    """Reusable: each ``with`` (or each decorated call) is one sample."""

    def __init__(self, record: Callable[[float], None]) -> None:
        self._record = record
        self._started: list[float] = []  # a stack, so nested/recursive uses each time themselves

    def __enter__(self) -> Timer:
        self._started.append(time.perf_counter())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        started = self._started.pop()
        self._record((time.perf_counter() - started) * 1000.0)

    async def __aenter__(self) -> Timer:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        """As a decorator: time every call (coroutine functions are timed until they return)."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await func(*args, **kwargs)
                finally:
                    self._record((time.perf_counter() - started) * 1000.0)

            return timed_async  # type: ignore[return-value]

        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self._record((time.perf_counter() - started) * 1000.0)

        return timed  # type: ignore[return-value]
