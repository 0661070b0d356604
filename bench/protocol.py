"""The request-rate protocol: median of N wrk runs, each on a fresh server, plus references.

Every request-rate row runs datacat and then the two reference apps (``bench/reference.py``)
with the *same* wrk script, connections, duration and worker count, so the ratio between
them says how much of this machine's HTTP floor datacat reaches — a figure that survives
a move to a faster or slower box far better than the raw req/s.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import seed, wrk
from bench.config import Config
from bench.report import emit
from bench.server import Server, serve, serve_reference

Figures = dict[str, Any]

_SUMMED = {"requests", "errors"}
_MAXED = {"peak_rss_mb", "rss_mb"}
"""Aggregation across runs: counts add up, memory takes the worst run, the rest the median."""


def measure(cfg: Config, server: Server, load: wrk.Load, count: int | None) -> wrk.WrkResult:
    """One wrk run: ``cfg.duration_s`` long, or until ``count`` answers if given.

    A fixed window only measures requests much shorter than itself: wrk counts what
    finished inside it, so when 32 requests of several seconds each share the server,
    a 10 s window can end with all of them in flight and report zero. Rows whose answers
    take seconds (the export) therefore ask for a number of answers and divide by the time
    the last one took to arrive.
    """
    if count is None:
        return wrk.run(server, load, duration_s=cfg.duration_s)
    return wrk.run_count(server, load, count, min_rate=0.5)


def run_figures(result: wrk.WrkResult, server: Server, per_request: int = 1) -> Figures:
    """One run's figures; ``per_request`` > 1 turns requests/s into items/s (batches)."""
    return {
        "req_per_s": round(result.ok_per_s, 1),
        **({"events_per_s": round(result.ok_per_s * per_request)} if per_request > 1 else {}),
        **wrk.fields(result),
        "response_bytes": result.bytes // max(1, result.requests),
        "peak_rss_mb": round(server.peak_rss_mb(), 1),
        "rss_mb": round(server.rss_mb(), 1),
        "processes": server.processes(),
        "workers": server.workers(),
    }


def aggregate(runs: list[Figures]) -> Figures:
    """Combine runs: median of rates and latencies, sum of counts, max of memory."""
    merged: Figures = {}
    for key in runs[0]:
        values = [run[key] for run in runs if isinstance(run.get(key), int | float)]
        if not values or isinstance(runs[0][key], bool):
            continue
        if key in _SUMMED:
            merged[key] = sum(values)
        elif key in _MAXED:
            merged[key] = max(values)
        else:
            merged[key] = round(statistics.median(values), 2)
    merged["runs"] = len(runs)
    rate = "events_per_s" if "events_per_s" in runs[0] else "req_per_s"
    merged[f"{rate}_each_run"] = [run[rate] for run in runs]
    return merged


def datacat_runs(
    cfg: Config,
    name: str,
    workers: int | None,
    prepare: Callable[[Server], wrk.Load],
    *,
    template: Path | None = None,
    per_request: int = 1,
    count: int | None = None,
) -> tuple[Figures, wrk.Load]:
    """``cfg.runs`` wrk runs against datacat, each on a fresh server and file.

    ``prepare`` gets the started server (to open sessions through the API, say) and
    returns the load; the last load is handed back so the references replay it.
    ``count`` replaces the fixed duration with a fixed number of answers (see
    :func:`measure`).
    """
    runs: list[Figures] = []
    load: wrk.Load | None = None
    for index in range(cfg.runs):
        db = cfg.db(f"{name}-w{workers or 'default'}-{index}", template)
        with serve(db, workers=workers) as server:
            load = prepare(server)
            figures = run_figures(measure(cfg, server, load, count), server, per_request)
        emit({"kind": "run", "row": name, "app": "datacat", "run": index, **figures})
        runs.append(figures)
    assert load is not None
    return aggregate(runs), load


def reference_runs(
    cfg: Config,
    name: str,
    workers: int,
    load: wrk.Load,
    get_body: bytes | None = None,
    count: int | None = None,
) -> dict[str, Figures]:
    """The bare ASGI and bare FastAPI apps under the same load, ``cfg.runs`` times each.

    ``get_body`` is what datacat answered to this row's GET, so the references send the
    same bytes back and the ratio compares work, not response sizes.
    """
    body_path = None
    if get_body is not None:
        body_path = cfg.workdir / f"{name}-get-body.json"
        body_path.write_bytes(get_body)
    found: dict[str, Figures] = {}
    for app in ("asgi", "fastapi"):
        runs = []
        for index in range(cfg.runs):
            log = cfg.workdir / f"{name}-{app}-w{workers}-{index}.log"
            with serve_reference(app, workers, log, body_path) as server:
                figures = run_figures(measure(cfg, server, load, count), server)
            emit({"kind": "run", "row": name, "app": app, "run": index, **figures})
            runs.append(figures)
        found[app] = aggregate(runs)
    return found


def template(cfg: Config, name: str, fill: Callable[[Server], Figures]) -> tuple[Path, Figures]:
    """Fill a database once through the API and seal it, for read rows to copy per run.

    The WAL is checkpointed into the file after the server stops, so a plain file copy is
    the whole database.
    """
    path = cfg.db(f"{name}-template")
    with serve(path) as server:
        info = fill(server)
    seed.seal(path)
    return path, info


def prefixed(prefix: str, figures: Figures) -> Figures:
    return {prefix + key: value for key, value in figures.items()}
