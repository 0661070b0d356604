"""schemathesis hooks: the two things a generator cannot learn from an OpenAPI document.

Loaded by ``test_fuzz_openapi.py`` through ``SCHEMATHESIS_HOOKS``. Neither weakens a
check; each turns a generated request into the one the schema's prose describes:

- ``state_path`` and ``state_value`` filter together (documented on both parameters);
  OpenAPI cannot say that one parameter needs another, so a case holding one of them
  gets the other too.
- Batch items name sessions by id, and only ids the server made exist (an unknown one is
  a 422 naming the item, as for any write to an unknown session). Generated ids become
  the id of a session the test created, so valid batches really write.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

SESSION_ID = os.environ["DATACAT_FUZZ_SESSION"]


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    query = case.query
    if isinstance(query, dict) and ("state_path" in query) != ("state_value" in query):
        query.setdefault("state_path", "fuzz.path")
        query.setdefault("state_value", "1")
    body = case.body
    if case.operation.path == "/api/batch" and isinstance(body, dict):
        items = body.get("items")  # a negative case may make it anything, an int too
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and isinstance(item.get("session_id"), str):
                item["session_id"] = SESSION_ID
    for metric in _metric_bodies(case):
        _histogram_as_described(metric)


def _metric_bodies(case: Any) -> list[dict[str, Any]]:
    body = case.body
    if not isinstance(body, dict):
        return []
    if case.operation.path.endswith("/metrics") and case.method.upper() == "POST":
        return [body]
    items = body.get("items") if case.operation.path == "/api/batch" else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _histogram_as_described(metric: dict[str, Any]) -> None:
    """A histogram's rules the schema states only in prose (``datacat.histogram``): ``le``
    strictly increasing with null (+Inf) last only, counts adding up to ``count``, ``sum``
    and ``count`` with ``buckets``, kind ``histogram``. Well-typed buckets get bounds 1, 2,
    … (the last keeps a null), ``count`` their total and ``sum`` a number; a case whose
    buckets are mistyped (a negative one) is left as it is."""
    buckets = metric.get("buckets")
    if not isinstance(buckets, list) or not 0 < len(buckets) <= 64:
        return
    for bucket in buckets:
        n = bucket.get("count") if isinstance(bucket, dict) else None
        if isinstance(n, float) and n.is_integer():
            n = bucket["count"] = int(n)  # JSON Schema's integer includes 5.0
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 2**53:
            return
    last_is_inf = buckets[-1].get("le", 0) is None
    for position, bucket in enumerate(buckets):
        bucket["le"] = None if last_is_inf and position == len(buckets) - 1 else float(position + 1)
    if sum(bucket["count"] for bucket in buckets) > 2**53:
        for bucket in buckets:
            bucket["count"] = min(bucket["count"], 2**53 // 64)
    metric["count"] = sum(bucket["count"] for bucket in buckets)
    if not isinstance(metric.get("sum"), (int, float)) or isinstance(metric.get("sum"), bool):
        metric["sum"] = 0.0
    if metric.get("kind") is not None:
        metric["kind"] = "histogram"
