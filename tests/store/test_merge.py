"""Property tests for the seed's deep-merge rule."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from datacat.store.merge import deep_merge

scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)
objects = st.dictionaries(st.text(max_size=3), values, max_size=4)


def paths(value: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Leaf paths of a state: where a non-object value sits."""
    if isinstance(value, dict) and value:
        found: dict[tuple[str, ...], Any] = {}
        for key, item in value.items():
            found.update(paths(item, (*prefix, key)))
        return found
    return {prefix: value}


@given(objects, objects)
def test_every_leaf_of_the_patch_lands(base: dict, patch: dict) -> None:
    merged = deep_merge(base, patch)
    for path, leaf in paths(patch).items():
        node: Any = merged
        for key in path:
            node = node[key]
        if isinstance(leaf, dict):  # an empty object merges into whatever object is there
            assert isinstance(node, dict)
        else:
            assert node == leaf


@given(objects, objects)
def test_keys_the_patch_does_not_reach_survive(base: dict, patch: dict) -> None:
    merged = deep_merge(base, patch)
    for key, value in base.items():
        if key not in patch:
            assert merged[key] == value


@given(objects, objects)
def test_inputs_are_not_modified(base: dict, patch: dict) -> None:
    import copy

    base_copy, patch_copy = copy.deepcopy(base), copy.deepcopy(patch)
    deep_merge(base, patch)
    assert (base, patch) == (base_copy, patch_copy)


@given(objects)
def test_merge_is_idempotent(patch: dict) -> None:
    once = deep_merge({}, patch)
    assert deep_merge(once, patch) == once


def test_merging_patches_first_is_not_the_same_as_applying_them_in_turn() -> None:
    # Why every state patch is sent and stored on its own: a scalar followed by an object
    # makes merge order matter, so a client may never pre-merge its queued patches.
    base, scalar, empty = {"k": {"x": 1}}, {"k": 1}, {"k": {}}
    assert deep_merge(deep_merge(base, scalar), empty) == {"k": {}}
    assert deep_merge(base, deep_merge(scalar, empty)) == {"k": {"x": 1}}


def test_null_replaces_and_is_kept() -> None:
    assert deep_merge({"a": {"b": 1}}, {"a": None}) == {"a": None}
    assert deep_merge({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}
    assert deep_merge({"a": {"b": 1}}, {"a": {"c": 2}}) == {"a": {"b": 1, "c": 2}}
