"""``datacat export`` and ``datacat import``: sessions as JSON Lines, between databases."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING

from datacat.commands import Commands, apply_flags, database_option
from datacat.settings import Settings

if TYPE_CHECKING:
    from datacat.store.transferformat import Counts

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})?)?"
)
_BUFFER = 1 << 20


def register(commands: Commands) -> None:
    export = commands.add_parser(
        "export",
        help="write sessions as JSON Lines",
        description="Write every session (or those active since --since) as JSON Lines: "
        "one session per line with its state history, events and metrics, losslessly, "
        "for 'datacat import'. Shows a progress bar on a terminal.",
    )
    export.add_argument(
        "--since",
        type=since_us,
        metavar="DATE",
        help="only sessions whose last activity is at or after DATE "
        "(RFC 3339: 2026-01-31, or 2026-01-31T12:00:00Z; no offset means UTC)",
    )
    export.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (default: standard output)"
    )
    database_option(export)
    export.set_defaults(run=run_export)

    load = commands.add_parser(
        "import",
        help="load a file written by 'datacat export'",
        description="Load sessions written by 'datacat export', after migrating the "
        "database. A session whose id is already stored is skipped whole, so importing a "
        "file twice stores it once. A bad line stops the import with its line number; "
        "every line before it is stored, none of it is.",
    )
    load.add_argument("file", metavar="FILE", help="the export, or - for standard input")
    database_option(load)
    load.set_defaults(run=run_import)


def since_us(text: str) -> int:
    """``--since``: an RFC 3339 date (midnight UTC) or date-time, as microseconds."""
    if not _RFC3339.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 date (2026-01-31) or date-time (2026-01-31T12:00:00Z)"
        )
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid RFC 3339 date: {exc}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    from datacat.timefmt import to_us

    return to_us(moment)


def _database_url(args: argparse.Namespace) -> str:
    apply_flags(args, {"database_url": "DATABASE_URL"})
    return Settings().database_url


def _fail(command: str, message: str) -> int:
    print(f"datacat {command}: {message}", file=sys.stderr)
    return 1


# -- export -----------------------------------------------------------------------------


def run_export(args: argparse.Namespace) -> int:
    url = _database_url(args)
    missing = _missing_sqlite_file(url)
    if missing is not None:
        return _fail("export", f"no database file at {missing}")
    if args.output is not None and not Path(args.output).resolve().parent.is_dir():
        return _fail("export", f"no directory for {args.output}")
    from sqlalchemy.exc import DBAPIError

    bar = Bar.on(sys.stderr, "exporting", "sessions")
    try:
        with _output(args.output) as out:
            counts = asyncio.run(_export(url, args.since, out, bar))
    except BrokenPipeError:
        # The reader went away (``datacat export | head``); keep the interpreter's final
        # flush of standard output from failing again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (DBAPIError, OSError) as exc:
        cause = getattr(exc, "orig", None) or exc
        return _fail("export", f"reading {_safe(url)} failed: {cause}")
    finally:
        if bar is not None:
            bar.close()
    where = args.output if args.output else "standard output"
    print(f"exported {counts.describe()} to {where}", file=sys.stderr)
    return 0


async def _export(url: str, since: int | None, out: IO[bytes], bar: Bar | None) -> Counts:
    from datacat.store.database import create_engine
    from datacat.store.exporter import export_sessions

    engine = create_engine(url, pool_size=1)
    try:
        return await export_sessions(engine, since, out.write, bar.show if bar else None)
    finally:
        await engine.dispose()


@contextmanager
def _output(path: str | None) -> Iterator[IO[bytes]]:
    """Standard output, or ``path`` — written beside it first and renamed once complete,
    so a failed export never leaves a file that looks whole."""
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    partial = Path(f"{path}.partial")
    try:
        with partial.open("wb", buffering=_BUFFER) as out:
            yield out
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _missing_sqlite_file(url: str) -> str | None:
    """Opening a SQLite file that is not there would create an empty one."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        return None
    return None if Path(database).expanduser().exists() else database


# -- import -----------------------------------------------------------------------------


def run_import(args: argparse.Namespace) -> int:
    url = _database_url(args)
    if args.file != "-" and not Path(args.file).is_file():
        return _fail("import", f"no such file: {args.file}")
    from sqlalchemy.exc import DBAPIError

    from datacat.store.migrate import upgrade_url

    try:
        asyncio.run(upgrade_url(url))
    except (DBAPIError, OSError) as exc:
        cause = getattr(exc, "orig", None) or exc
        return _fail("import", f"migrating {_safe(url)} failed: {cause}")
    bar = Bar.on(sys.stderr, "importing", "MiB", scale=1 << 20)
    try:
        if args.file == "-":
            counts, error = asyncio.run(_import(url, sys.stdin.buffer, None, bar))
        else:
            with open(args.file, "rb", buffering=_BUFFER) as source:
                size = os.fstat(source.fileno()).st_size
                counts, error = asyncio.run(_import(url, source, size, bar))
    finally:
        if bar is not None:
            bar.close()
    from datacat.store.transferformat import counted

    skipped = counted(counts.skipped, "session")
    summary = f"imported {counts.describe()}; skipped {skipped} already there"
    if error is not None:
        print(summary, file=sys.stderr)
        return _fail("import", error)
    print(summary)
    return 0


async def _import(
    url: str, source: IO[bytes], size: int | None, bar: Bar | None
) -> tuple[Counts, str | None]:
    """The counts stored, and what stopped the import (None: it finished)."""
    from datacat.store.importer import GroupFailed, Importer
    from datacat.store.longline import LONG_LINE, LongLine
    from datacat.store.transferformat import LineError, parse_line

    importer = Importer(url)
    done = 0
    number = 0
    error: str | None = None
    try:
        while line := source.readline(LONG_LINE):
            number += 1
            try:
                if line.endswith(b"\n") or len(line) < LONG_LINE:
                    done += len(line)
                    if line.strip():
                        await importer.add(parse_line(line), number)
                else:
                    long = LongLine(line, source.readline)
                    await importer.add_long(long.pieces(), number)
                    done += long.bytes_read
            except LineError as exc:
                error = f"line {number}: {exc}"
                break
            if bar is not None:
                bar.show(done, size)
        await importer.flush()
    except GroupFailed as exc:
        error = str(exc)
    finally:
        await importer.close()
    if error is not None and importer.counts.sessions:
        error += " (the lines before it are stored; importing the file again skips them)"
    return importer.counts, error


# -- progress ---------------------------------------------------------------------------


class Bar:
    """A one-line progress bar on a terminal, redrawn at most ten times a second."""

    def __init__(self, stream: IO[str], label: str, unit: str, scale: int = 1) -> None:
        self._stream = stream
        self._label = label
        self._unit = unit
        self._scale = scale
        self._drawn = 0.0
        self._last: tuple[int, int | None] | None = None

    @classmethod
    def on(cls, stream: IO[str], label: str, unit: str, scale: int = 1) -> Bar | None:
        """A bar if ``stream`` is a terminal, else None: no bar in a pipe or a log."""
        return cls(stream, label, unit, scale) if stream.isatty() else None

    def show(self, done: int, total: int | None) -> None:
        self._last = (done, total)
        now = time.monotonic()
        if now - self._drawn >= 0.1 or done == total:
            self._drawn = now
            self._draw(done, total)

    def close(self) -> None:
        if self._last is not None:
            self._draw(*self._last)
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self, done: int, total: int | None) -> None:
        shown = done // self._scale
        if total:
            counter = f" {shown:,}/{-(-total // self._scale):,} {self._unit}"
            width = max(
                10, shutil.get_terminal_size().columns - len(self._label) - len(counter) - 4
            )
            filled = width * min(done, total) // total
            line = f"{self._label} [{'#' * filled}{'.' * (width - filled)}]{counter}"
        else:
            line = f"{self._label} {shown:,} {self._unit}"
        self._stream.write(f"\r{line}")
        self._stream.flush()
