"""datacat's load benchmarks (issue 5, item 4): ``python -m bench`` or ``make bench``.

Each measure lives in its own module and returns a :class:`bench.report.Result`; the
runner in ``__main__`` prints one JSON line per measure and a Markdown table at the end.
The server is always a real ``datacat serve`` subprocess on a fresh SQLite file, so the
figures include HTTP parsing, validation and the group-commit writer, as a user sees them.
"""
