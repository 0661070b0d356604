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
