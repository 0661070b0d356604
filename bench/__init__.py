"""datacat's load benchmarks: ``python -m bench`` or ``make bench`` (see bench/README.md).

Each measure lives in its own module and returns table rows (:class:`bench.report.Row`);
the runner in ``__main__`` prints JSON lines and writes the results file. The server is
always a real ``datacat serve`` subprocess on a fresh SQLite file, so the figures include
HTTP parsing, validation and the group-commit writer, as a user sees them — and reference
apps run beside it under the same load, so each figure comes with this machine's floor.
"""
