"""Rows of the results table, their JSON lines, and the Markdown file.

Nothing in the table is typed by hand except the targets' thresholds: each figure comes
from a measurement, each ratio is divided here, and "met" is each :class:`Check` applied
to the figure it names, so a table cannot claim what the run did not show.
"""

from __future__ import annotations

import json
import operator
import os
import platform
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

REFERENCE_NAMES = {
    "asgi": "bare ASGI",
    "fastapi": "bare FastAPI",
    "sqlite": "raw SQLite executemany",
}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def revision() -> str:
    """The commit measured, marked ``+dirty`` when ``src/`` differs from it."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "cpu": cpu_model()}


_TICKS = os.sysconf("SC_CLK_TCK")
BUSY_PCT = 15.0
"""Other processes using more than this share of one core during a row mark it as perturbed."""


def _cpu_line() -> list[int]:
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def _own_s() -> float:
    """CPU of this run: the bench process and every child it has reaped (servers, wrk).

    Each measure stops and waits for its servers and wrk before it returns, so at a row's
    end their CPU has been folded into ``children_*``.
    """
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class Contention:
    """How much CPU something other than this run took while a measure ran.

    The machine is shared (people run tests while a 20-minute run goes on), and on two
    cores any other busy process takes CPU from the server or wrk. Machine-wide
    user+system time from ``/proc/stat`` minus this run's own gives the others' share;
    ``steal`` is a hypervisor's (a noisy neighbour VM). IRQ time is left out on both
    sides, since loopback traffic is charged there and belongs to no process.
    """

    def __init__(self) -> None:
        self.wall = time.monotonic()
        self.cpu = _cpu_line()
        self.own = _own_s()

    def figures(self) -> dict[str, float]:
        wall = max(1e-3, time.monotonic() - self.wall)
        now = _cpu_line()
        delta = [b - a for a, b in zip(self.cpu, now, strict=False)]
        busy = (delta[0] + delta[1] + delta[2]) / _TICKS  # user, nice, system
        steal = (delta[7] if len(delta) > 7 else 0) / _TICKS
        other = max(0.0, busy - (_own_s() - self.own))
        return {
            "other_cpu_pct": round(100 * other / wall, 1),
            "steal_cpu_pct": round(100 * steal / wall, 1),
        }


class Sink:
    """Where JSON lines go: stdout as they happen (progress), and the ``.jsonl`` file."""

    def __init__(self) -> None:
        self.file: IO[str] | None = None

    def open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("w")

    def write(self, line: dict[str, Any]) -> None:
        text = json.dumps(line)
        print(text, flush=True)
        if self.file is not None:
            self.file.write(text + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


SINK = Sink()


def emit(line: dict[str, Any]) -> None:
    SINK.write(line)


_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<": operator.lt}
_SHOWN = {">=": "≥", "<": "<"}


def number(value: float) -> str:
    """Readable at a glance: thousands separated, decimals only where they matter."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"


@dataclass(frozen=True)
class Check:
    """One part of a target: the figure ``key`` compared with ``limit``."""

    label: str
    key: str
    op: str
    limit: float
    unit: str

    def text(self) -> str:
        return f"{self.label} {_SHOWN[self.op]} {self.limit:,g} {self.unit}".strip()

    def met(self, figures: dict[str, Any]) -> bool:
        value = figures.get(self.key)
        if not isinstance(value, int | float):
            return False
        return _OPS[self.op](value, self.limit)

    def shortfall(self, figures: dict[str, Any]) -> str:
        value = figures.get(self.key)
        shown = number(value) if isinstance(value, int | float) else "none"
        return f"{self.label} {shown} {self.unit}, target {_SHOWN[self.op]} {self.limit:,g}".strip()


@dataclass
class Row:
    """One line of the table: what datacat did, what the references did, and the verdict.

    ``primary`` names the throughput figure that ratios and the worker sweep compare
    (``reference_key`` the references' figure in the same unit).
    """

    key: str
    measure: str
    checks: list[Check]
    figures: dict[str, Any]
    describe: str
    primary: str = "req_per_s"
    unit: str = "req/s"
    references: dict[str, dict[str, Any]] = field(default_factory=dict)
    reference_key: str = "req_per_s"
    workers: int | None = None
    workers_tried: dict[str, float] = field(default_factory=dict)
    sweep_leader: bool = True
    note: str = ""
    error: str | None = None
    revision: str = ""
    machine_load: dict[str, float] = field(default_factory=dict)

    def perturbed(self) -> str:
        """A warning for the table when others used the CPU during this row, else ''."""
        other = self.machine_load.get("other_cpu_pct", 0.0)
        steal = self.machine_load.get("steal_cpu_pct", 0.0)
        if other <= BUSY_PCT and steal <= BUSY_PCT:
            return ""
        return (
            f"machine busy: other processes took {other:.0f}% of a core"
            + (f", steal {steal:.0f}%" if steal > BUSY_PCT else "")
            + " during this row"
        )

    @property
    def target(self) -> str:
        return "; ".join(check.text() for check in self.checks) if self.checks else "(none)"

    @property
    def met(self) -> bool | None:
        if self.error is not None or not self.checks:
            return None
        return all(check.met(self.figures) for check in self.checks)

    @property
    def value(self) -> float:
        found = self.figures.get(self.primary)
        return float(found) if isinstance(found, int | float) else 0.0

    def ratios(self) -> dict[str, float]:
        """datacat ÷ each reference, on the primary figure (higher = closer to the floor)."""
        out = {}
        for name, figures in self.references.items():
            base = figures.get(self.reference_key)
            if isinstance(base, int | float) and base > 0:
                out[name] = round(self.value / base, 3)
        return out

    def line(self) -> dict[str, Any]:
        return {
            "kind": "row",
            "measure": self.key,
            "title": self.measure,
            "target": self.target,
            "met": self.met,
            "checks": {c.text(): c.met(self.figures) for c in self.checks},
            "primary": self.primary,
            "datacat": self.figures,
            "references": self.references,
            "ratios": self.ratios(),
            "workers": self.workers,
            "workers_tried": self.workers_tried,
            "workers_chosen_by": "this row" if self.sweep_leader else "the row above",
            **({"error": self.error} if self.error else {}),
            "revision": self.revision,
            **self.machine_load,
            **machine(),
        }


def failed(key: str, measure: str, error: str) -> Row:
    return Row(key, measure, [], {}, f"error: {error[:300]}", error=error)


def _references(row: Row) -> str:
    parts = []
    for name, figures in row.references.items():
        rate = figures.get(row.reference_key)
        if not isinstance(rate, int | float):
            continue
        latency = figures.get("p99_ms")
        extra = f" (p99 {number(latency)} ms)" if isinstance(latency, int | float) else ""
        parts.append(f"{REFERENCE_NAMES.get(name, name)} {number(rate)} {row.unit}{extra}")
    return "; ".join(parts) or "—"


def _ratios(row: Row) -> str:
    ratios = row.ratios()
    order = sorted(ratios, key=lambda name: name != "fastapi")  # FastAPI first
    shown = [f"{_ratio(ratios[n])} of {REFERENCE_NAMES.get(n, n)}" for n in order]
    return "; ".join(shown) or "—"


def _ratio(value: float) -> str:
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


def _workers(row: Row) -> str:
    if row.workers is None:
        return "—"
    if len(row.workers_tried) > 1:
        tried = ", ".join(f"{k}: {number(v)}" for k, v in row.workers_tried.items())
        how = "best of" if row.sweep_leader else "as the row above; here"
        return f"{row.workers} ({how} {tried} {row.unit})"
    return str(row.workers)


def _met(row: Row) -> str:
    if row.met is None:
        return "—"
    if row.met:
        return "yes"
    misses = [c.shortfall(row.figures) for c in row.checks if not c.met(row.figures)]
    return "**no** (" + "; ".join(misses) + ")"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


PROTOCOL = (
    "Every request-rate figure is the median of {runs} `wrk` run(s) of {duration:g} s, "
    "32 connections unless the row says otherwise, each run against a fresh server process "
    "on a fresh SQLite file (read rows copy one file seeded through the API); rows whose "
    "note says so count a fixed number of answers instead of seconds. Beside "
    "datacat, the same wrk script drives two reference apps from `bench/reference.py` under "
    "plain `uvicorn` with the same worker count: a raw ASGI callable and a bare FastAPI "
    "endpoint, both answering without doing any work — the HTTP floor of this machine. "
    "The ratio column is datacat ÷ reference (1.00 = as fast as doing nothing). The batch "
    "row's reference is raw SQLite `executemany` of the same rows into a table with the "
    "events table's indexes. Latencies are wrk's; CPU is % of one core (the server's whole "
    "process tree, and wrk, which shares the {cores} cores); RSS is every server process "
    'summed. "met?" is computed from the figures against each part of the target. Raw '
    "figures of every run: `{jsonl}`; how each row is measured: `bench/README.md`."
)


def markdown(
    rows: list[Row],
    *,
    quick: bool,
    workers: str,
    runs: int,
    duration_s: float,
    total_s: float,
    jsonl: str,
    measured: str,
) -> str:
    """The results file: title, machine line, protocol paragraph, then the table.

    ``measured`` names the datacat tree the servers were started from; others commit
    while a 20-minute run goes on, so the caller says so when it changed mid-run.
    """
    info = machine()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = "datacat benchmarks" + (
        " — QUICK run: tiny sizes, figures mean nothing" if quick else ""
    )
    head = [
        f"# {title}",
        "",
        f"**Machine:** {info['cpu']}, {info['cores']} cores; Python {sys.version.split()[0]}; "
        f"SQLite {sqlite3.sqlite_version}; datacat {measured}; {when}; "
        f"total run time {total_s / 60:.1f} min; `datacat serve` workers: {workers}.",
        "",
        PROTOCOL.format(runs=runs, duration=duration_s, cores=info["cores"], jsonl=jsonl),
        "",
        "| measure | target | datacat | references (same load) | datacat ÷ reference "
        "| workers | met? |",
        "|---|---|---|---|---|---|---|",
    ]
    body = []
    perturbed = 0
    for row in rows:
        notes = [text for text in (row.note, row.perturbed()) if text]
        measure = row.measure + "".join(f" — {text}" for text in notes)
        if row.perturbed():
            perturbed += 1
        cells = [
            measure,
            row.target,
            row.describe,
            _references(row),
            _ratios(row),
            _workers(row),
            _met(row),
        ]
        body.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    foot = []
    if perturbed:
        foot = [
            "",
            f"**{perturbed} row(s) ran while other processes used more than {BUSY_PCT:.0f}% of "
            'a core** (marked "machine busy"): their figures are lower than this machine '
            "gives when idle.",
        ]
    return "\n".join(head + body + foot) + "\n"


def rate_text(figures: dict[str, Any], key: str = "req_per_s", unit: str = "req/s") -> str:
    """The standard datacat cell: rate, latency, both CPUs, and errors if there were any."""
    text = (
        f"{number(figures.get(key, 0))} {unit}; p50 {number(figures.get('p50_ms', 0))} ms, "
        f"p99 {number(figures.get('p99_ms', 0))} ms; CPU server "
        f"{figures.get('server_cpu_pct', 0):.0f}%, wrk {figures.get('wrk_cpu_pct', 0):.0f}%"
    )
    if figures.get("errors"):
        text += f"; **{figures['errors']:,} errors**"
    return text
