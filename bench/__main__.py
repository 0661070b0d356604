"""``python -m bench [--quick]``: run every measure, print JSON lines, then the table.

Each measure prints its JSON line as soon as it finishes; a measure that fails prints an
``error`` line instead and the run exits non-zero at the end (after the others ran), so a
broken benchmark cannot pass unnoticed. Two measures belong to other modules that may not
exist yet (``bench.client_overhead``, ``bench.pages``); they run as subprocesses when
present and their JSON lines join the table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import batch_ingest, export, footprint, series, session_get, single_post
from bench.config import Config
from bench.report import Result, emit, machine, markdown
from bench.server import serve

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

CLIENT_TARGET = ">= 50,000 metrics/s, < 10 µs per call in the app"
PAGE_TARGET = "< 300 ms server time (p99), 10,000 sessions + 1,000,000 points"


def _external(cfg: Config, command: Sequence[str], timeout_s: float) -> list[Result]:
    """Run another engineer's measure module and turn its JSON lines into results."""
    done = subprocess.run(
        [sys.executable, "-m", *command],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=HERE.parent,
        check=False,
    )
    results = []
    for text in done.stdout.splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and "measure" in line:
            results.append(_from_line(line))
    if done.returncode != 0 or not results:
        raise RuntimeError(f"{command[0]} exited {done.returncode}: {done.stderr[-1500:]}")
    return results


def _from_line(line: dict[str, Any]) -> Result:
    figures = {
        k: v for k, v in line.items() if k not in ("measure", "target", "met", "cores", "cpu")
    }
    met = line.get("met")
    target = line.get("target", "")
    name = str(line["measure"])
    if "page" in line:  # one line per UI page: name the row after it
        name = f"page {line['page']}"
        target = target or PAGE_TARGET
        if met is None and "server_p99" in line:
            met = line["server_p99"] < 300
    if "client_call_us" in line and "metrics_per_s_end_to_end" in line:
        target = target or CLIENT_TARGET
        if met is None:
            met = line["client_call_us"] < 10 and line["metrics_per_s_end_to_end"] >= 50_000
    measured = ", ".join(
        f"{k} {v:,.4g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in figures.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    )
    return Result(name, str(target), measured, met, figures)


def client_overhead(cfg: Config) -> list[Result]:
    """Measure (c): the Python client's default path, against a fresh server."""
    count = cfg.pick(200_000, 2_000)
    with serve(cfg.db("c_client"), workers=cfg.workers) as server:
        return _external(
            cfg, ["bench.client_overhead", server.url, str(count)], cfg.seconds(600, 120)
        )


def pages(cfg: Config) -> list[Result]:
    """UI page timings (bench/pages.py starts its own server)."""
    sessions, points = cfg.pick(10_000, 20), cfg.pick(1_000_000, 1_000)
    command = ["bench.pages", "--sessions", str(sessions), "--points", str(points)]
    return _external(cfg, command, cfg.seconds(600, 120))


Measure = Callable[[Config], Result | list[Result]]

MEASURES: dict[str, tuple[Measure, str | None]] = {
    "a_event_post": (single_post.run_events, None),
    "a_metric_post": (single_post.run_metrics, None),
    "b_batch_events": (batch_ingest.run, None),
    "c_client_overhead": (client_overhead, "client_overhead.py"),
    "d_session_get_10k": (session_get.run, None),
    "e_export_1000x100": (export.run, None),
    "f_series_state_filter": (series.run, None),
    "g_footprint_1m_events": (footprint.run, None),
    "pages": (pages, "pages.py"),
}
"""Every measure in run order; the second item names the module file it needs, if any."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: proves it runs")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(MEASURES)}")
    parser.add_argument("--workers", type=int, default=1, help="datacat serve --workers")
    parser.add_argument("--output", type=Path, help="Markdown file (default bench/results/)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = list(MEASURES) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in MEASURES]
    if unknown:
        raise SystemExit(f"unknown measure(s): {', '.join(unknown)}")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk, or `make system-deps`)")
    workdir = Path(tempfile.mkdtemp(prefix="datacat-bench-"))
    cfg = Config(quick=args.quick, workdir=workdir, workers=args.workers)
    results: list[Result] = []
    failed = False
    started = time.monotonic()
    print(f"# bench: {machine()}, scratch {workdir}", file=sys.stderr, flush=True)
    try:
        for name in names:
            measure, needs = MEASURES[name]
            if needs is not None and not (HERE / needs).exists():
                print(f"# {name}: skipped, bench/{needs} not present", file=sys.stderr)
                continue
            began = time.monotonic()
            try:
                found = measure(cfg)
            except Exception as exc:  # report and go on: one broken measure must not hide others
                failed = True
                error = f"{type(exc).__name__}: {exc}"
                print(json.dumps({"measure": name, "error": error, **machine()}), flush=True)
                results.append(Result(name, "", f"error: {error[:200]}", None))
                continue
            for result in found if isinstance(found, list) else [found]:
                emit(result)
                results.append(result)
            print(f"# {name}: {time.monotonic() - began:.1f} s", file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    table = markdown(results, cfg.quick, cfg.workers)
    print(table)
    output = args.output or RESULTS / ("quick.md" if args.quick else "latest.md")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(table)
    print(f"# total {time.monotonic() - started:.0f} s; table in {output}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
