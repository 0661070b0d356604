"""``jsoncheck.decode`` may vouch for a body only when ``check_json`` would pass its value:
the fast path then skips the check, so a wrong "proven" would let a NUL reach PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacat.jsoncheck import PROVEN, check_json, decode

_text = st.text(alphabet=st.sampled_from(["a", "\x00", "é", "\\", '"', "u", "0"]), max_size=6)
_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)


def _passes(value: Any) -> bool:
    try:
        check_json(value)
    except ValueError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(_values)
def test_a_proven_body_holds_nothing_check_json_refuses(value: Any) -> None:
    body = json.dumps(value).encode()
    try:
        decoded, context = decode(body)
    except orjson.JSONDecodeError:
        return  # the lenient decoder's value is checked in full
    if context is PROVEN:
        assert _passes(decoded)
    if not _passes(decoded):
        assert context is None


def test_a_nul_escape_anywhere_withholds_the_proof() -> None:
    assert decode(b'{"k": "a\\u0000"}') == ({"k": "a\x00"}, None)
    assert decode(b'{"a\\u0000": 1}')[1] is None
    assert decode(b'{"k": "plain", "n": 1.5}') == ({"k": "plain", "n": 1.5}, PROVEN)


@pytest.mark.parametrize("body", [b'"\\ud800"', b'{"n": 1e999}', b'"a\x00b"', b"NaN"])
def test_what_orjson_refuses_is_left_to_the_lenient_decoder(body: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        decode(body)
