"""The limits' count over a value's JSON text is a shortcut past the walk, never a
second opinion: with and without the text, every value gets the same verdict."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from datacat.limits import Limits

_keys = st.text(alphabet="ab:{[", max_size=3)
_values = st.recursive(
    st.none() | st.integers(0, 9) | st.text(alphabet="x:{[", max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=16,
)


@settings(max_examples=500, deadline=None)
@given(_values, st.integers(1, 4), st.integers(1, 4))
def test_the_text_changes_no_verdict(value: Any, depth: int, keys: int) -> None:
    limits = Limits(
        max_state_depth=depth,
        max_object_keys=keys,
        max_metric_tags=64,
        max_name_length=256,
        max_batch_items=1000,
    )
    text = orjson.dumps(value).decode()
    assert limits._json("data", value, text) == limits._json("data", value)
