"""Reading an exported line too long to parse whole, one value at a time.

A session of a million events is one line of about 100 MiB; parsed whole it becomes some
1.1 GB of Python objects. Past ``LONG_LINE`` bytes the import reads the line in blocks
instead: the standard library's scanner finds where each value ends, ``orjson`` reads
the value (so both ways accept and refuse exactly the same JSON), and the rows leave in
chunks of ``CHUNK`` — memory stays at a block and a chunk whatever the line's length.

The session's fields must all be known before its rows can be stored (they need its
new key), so rows that come before the last field are held until it arrives; ``datacat
export`` writes the fields first, so nothing is held for its lines.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from datacat.store.transferformat import (
    HEAD_KEYS,
    LIST_KEYS,
    ROW_CHECKS,
    LineError,
    check_session,
    same_keys,
)

LONG_LINE = 8 << 20
"""Lines up to this many bytes are parsed whole (fastest); longer ones are streamed."""
BLOCK = 1 << 20
CHUNK = 5000
"""Rows per piece handed on."""

Piece = tuple[str, Any]
"""``("session", fields)`` once, then ``(list name, rows)`` chunks in the line's order."""

_SPACE = re.compile(r"[ \t\r\n]*")
_FIELDS = frozenset(HEAD_KEYS) | frozenset(LIST_KEYS)


class LongLine:
    """The rest of one line: ``first`` is what was read of it, ``more(n)`` reads on, at
    most ``n`` bytes, up to and including the newline (``b""`` at the end of the file) —
    a binary file's ``readline``."""

    def __init__(self, first: bytes, more: Callable[[int], bytes]) -> None:
        self._more = more
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._text = ""
        self._at = 0
        self._dropped = 0
        self._ended = False
        self.bytes_read = 0
        self._add(first)

    # -- reading ------------------------------------------------------------------------

    def _add(self, block: bytes) -> None:
        self.bytes_read += len(block)
        if not block or block.endswith(b"\n"):
            self._ended = True
        try:
            text = self._utf8.decode(block, final=self._ended)
        except UnicodeDecodeError as exc:
            raise LineError(f"not valid UTF-8: {exc.reason}") from None
        if self._at > len(self._text) // 2:
            self._dropped += self._at
            self._text = self._text[self._at :]
            self._at = 0
        self._text += text

    def _fill(self) -> bool:
        """Read more of the line — as much again as the value being read holds so far,
        so a value spanning many blocks is rescanned a few times, not once a block.
        False once the line has no more."""
        if self._ended:
            return False
        self._add(self._more(max(BLOCK, len(self._text) - self._at)))
        return True

    def _skip_space(self) -> None:
        while True:
            space = _SPACE.match(self._text, self._at)
            if space is not None:
                self._at = space.end()
            if self._at < len(self._text) or not self._fill():
                return

    def _peek(self) -> str:
        """The next character after white space; "" at the end of the line."""
        self._skip_space()
        return self._text[self._at : self._at + 1]

    def _expect(self, char: str, what: str) -> None:
        if self._peek() != char:
            raise self._invalid(f"expected {what}")
        self._at += 1

    def _value(self) -> Any:
        """The JSON value at the cursor, read by ``orjson``."""
        self._skip_space()
        scan = _SCANNER.raw_decode
        while True:
            try:
                _, end = scan(self._text, self._at)
            except (json.JSONDecodeError, RecursionError) as exc:
                # Maybe only cut off by the block's end: read on, and try again.
                if self._fill():
                    continue
                detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deep"
                raise self._invalid(detail) from None
            if end == len(self._text) and self._fill():
                continue  # a number at the block's end may go on in the next block
            break
        try:
            value = orjson.loads(self._text[self._at : end])
        except orjson.JSONDecodeError as exc:
            raise self._invalid(exc.msg) from None
        self._at = end
        return value

    def _invalid(self, detail: str) -> LineError:
        return LineError(f"not valid JSON: {detail} at character {self._dropped + self._at + 1}")

    # -- the session --------------------------------------------------------------------

    def pieces(self) -> Iterator[Piece]:
        """The session's fields, then its rows; nothing for a line of white space."""
        if self._peek() == "":
            return
        if self._peek() != "{":
            raise LineError("must be a JSON object (one session)")
        self._at += 1
        fields: dict[str, Any] = {}
        held: list[Piece] = []
        seen: set[str] = set()
        while self._peek() != "}" or seen:
            key = self._value()
            if type(key) is not str:
                raise self._invalid("expected a field name")
            if key not in _FIELDS:
                raise LineError(f"unknown field {key!r}")
            if key in seen:
                raise LineError(f"field {key!r} appears twice")
            seen.add(key)
            self._expect(":", "':'")
            if key in HEAD_KEYS:
                fields[key] = self._value()
                if len(fields) == len(HEAD_KEYS):
                    check_session(fields)
                    yield "session", fields
                    yield from held
                    held = []
            elif len(fields) == len(HEAD_KEYS):
                yield from self._rows(key)
            else:
                held.extend(self._rows(key))
            if self._peek() != ",":
                break
            self._at += 1
        self._expect("}", "',' or '}'")
        if self._peek() != "":
            raise self._invalid("expected the end of the line")
        same_keys(dict.fromkeys(seen), frozenset(_FIELDS))

    def _rows(self, key: str) -> Iterator[Piece]:
        if self._peek() != "[":
            raise LineError("must be a list", key)
        self._at += 1
        check = ROW_CHECKS[key]
        seen = _Unremembered()
        chunk: list[tuple[Any, ...]] = []
        index = 0
        if self._peek() == "]":
            self._at += 1
            return
        while True:
            try:
                chunk.append(check(self._value(), seen))
            except LineError as exc:
                raise exc.inside(f"{key}[{index}]") from None
            index += 1
            if len(chunk) == CHUNK:
                yield key, chunk
                chunk = []
            if self._peek() != ",":
                break
            self._at += 1
        self._expect("]", "',' or ']'")
        if chunk:
            yield key, chunk


class _Unremembered(set[str]):
    """A long line's client ids are not kept (a million of them would take some 80 MB):
    the rows are stored as they come, and the database's unique index finds a repeat."""

    def add(self, value: str) -> None:
        pass


_SCANNER = json.JSONDecoder()
