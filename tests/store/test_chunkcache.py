"""The event-chunk cache: bounded by bytes, least recently used out, snapshot-safe."""

from __future__ import annotations

from datacat.store.chunkcache import ChunkCache


def test_a_chunk_is_found_only_for_readers_whose_snapshot_covers_it() -> None:
    cache = ChunkCache(1000)
    cache.put(1, after=0, last=40, document=b"x" * 10, full=True)
    assert cache.get(1, 0, upto=40) == (40, b"x" * 10)
    assert cache.get(1, 0, upto=100) == (40, b"x" * 10)
    assert cache.get(1, 0, upto=39) is None  # would show events the reader must not see
    assert cache.get(1, 1, upto=100) is None
    assert cache.get(2, 0, upto=100) is None


def test_the_least_recently_used_goes_first_when_over_budget() -> None:
    cache = ChunkCache(30)
    cache.put(1, 0, 5, b"a" * 10, full=True)
    cache.put(2, 0, 5, b"b" * 10, full=True)
    cache.put(3, 0, 5, b"c" * 10, full=True)
    assert cache.get(1, 0, 5) is not None  # now 2 is the oldest
    cache.put(4, 0, 5, b"d" * 10, full=True)
    assert cache.get(2, 0, 5) is None
    assert all(cache.get(pk, 0, 5) is not None for pk in (1, 3, 4))
    assert cache.held_bytes == 30


def test_a_replaced_or_oversized_chunk_keeps_the_count_right() -> None:
    cache = ChunkCache(30)
    cache.put(1, 0, 5, b"a" * 10, full=False)
    cache.put(1, 0, 6, b"a" * 20, full=False)
    assert cache.held_bytes == 20
    cache.put(2, 0, 5, b"z" * 31, full=True)  # larger than the whole budget: not kept
    assert cache.get(2, 0, 5) is None and cache.held_bytes == 20


def test_a_tail_serves_only_a_reader_whose_last_event_it_ends_with() -> None:
    cache = ChunkCache(1000)
    cache.put(1, after=40, last=43, document=b"t", full=False)
    assert cache.get(1, 40, upto=43) == (43, b"t")
    assert cache.get(1, 40, upto=44) is None  # the session grew: rebuild the tail
    assert cache.get(1, 40, upto=42) is None
