"""A rate limit on ``/api``: a token bucket per API key, or per client address when open.

Each caller may make ``rate`` requests a second on average and ``burst`` at once; beyond
that it gets a 429 with ``Retry-After`` (whole seconds), which every datacat client honours
before resending. Health checks, the web UI and its static files are not limited.

The buckets live in this process: with ``--workers N`` (or N replicas) a caller may get up
to N times the rate. A bucket left idle long enough to be full again is the same as a new
one, so it is forgotten; past ``max_buckets`` callers the least recently seen goes too,
so memory stays bounded however many addresses call.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["RateLimit", "TokenBuckets"]

MAX_BUCKETS = 100_000


class TokenBuckets:
    """The rule alone, with the clock passed in: ``take`` spends a token or says how long
    until one is there."""

    def __init__(self, rate: float, burst: int, max_buckets: int = MAX_BUCKETS) -> None:
        if rate <= 0:
            raise ValueError("a rate limit needs a rate above 0")
        self.rate = rate
        self.capacity = float(burst) if burst > 0 else max(1.0, rate)
        self.max_buckets = max_buckets
        self._refill_s = self.capacity / rate
        # caller → (tokens left, when last seen), least recently seen first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, caller: str, now: float) -> float:
        """0 if ``caller`` may go ahead (a token is spent), else the seconds to wait."""
        buckets = self._buckets
        found = buckets.pop(caller, None)
        if found is None:
            tokens = self.capacity
        else:
            tokens = min(self.capacity, found[0] + (now - found[1]) * self.rate)
        if tokens >= 1.0:
            buckets[caller] = (tokens - 1.0, now)
            wait = 0.0
        else:
            buckets[caller] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        self._forget_idle(now)
        return wait

    def _forget_idle(self, now: float) -> None:
        buckets = self._buckets
        while len(buckets) > self.max_buckets:
            buckets.popitem(last=False)
        idle_since = now - self._refill_s
        while buckets:
            oldest = next(iter(buckets.values()))
            if oldest[1] > idle_since:
                break
            buckets.popitem(last=False)


class RateLimit:
    """Pure ASGI middleware; added only when a rate is set, so it costs nothing otherwise."""

    def __init__(
        self,
        app: ASGIApp,
        rate: float,
        burst: int = 0,
        max_buckets: int = MAX_BUCKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.buckets = TokenBuckets(rate, burst, max_buckets)
        self.clock = clock
        rate_text = f"{rate:g}"
        self._refusals = {
            per: orjson.dumps(
                {
                    "detail": f"rate limit of {rate_text} requests/s per {per} exceeded "
                    "(DATACAT_RATE_LIMIT_PER_S)"
                }
            )
            for per in ("key", "client address")
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_api(scope["path"]):
            await self.app(scope, receive, send)
            return
        key = scope.get("datacat.key")
        if key is not None:
            caller, per = "key:" + key.prefix, "key"
        else:
            client = scope.get("client")
            caller, per = "addr:" + (client[0] if client else "unknown"), "client address"
        wait = self.buckets.take(caller, self.clock())
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        await _drain(receive)
        body = self._refusals[per]
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(body)),
                    (b"retry-after", b"%d" % max(1, math.ceil(wait))),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _is_api(path: str) -> bool:
    return path.startswith("/api/") or path == "/api"


async def _drain(receive: Receive) -> None:
    """Read the refused request's body (its size is already bounded by the ingress), so the
    connection stays usable for the client's next request."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
