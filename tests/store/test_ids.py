"""Session ids are UUIDs that sort by creation time (see ``store/ids.py``)."""

from __future__ import annotations

import time
import uuid

from datacat.store.ids import new_session_id


def test_ids_are_version_7_uuids_in_the_usual_text_form() -> None:
    text = new_session_id()
    parsed = uuid.UUID(text)
    assert str(parsed) == text and len(text) == 36
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_ids_begin_with_their_creation_time_and_sort_by_it() -> None:
    before = time.time_ns() // 1_000_000
    first = new_session_id()
    time.sleep(0.002)
    second = new_session_id()
    after = time.time_ns() // 1_000_000
    millis = uuid.UUID(first).int >> 80
    assert before <= millis <= after
    assert first < second


def test_ids_do_not_repeat() -> None:
    ids = [new_session_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    # Within one millisecond the rest is random, not a counter: ids stay unguessable.
    same_ms = [i for i in ids if i[:13] == ids[0][:13]]
    assert len({i[15:] for i in same_ms}) == len(same_ms)
