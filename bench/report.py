"""One result per measure: its JSON line, its table row, and the machine it ran on.

Figures mean little without the machine, so every JSON line carries the core count and
CPU model, and the Markdown table opens with them (and with the fact that, on a small
box, wrk and the server share the same cores).
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def revision() -> str:
    """The commit measured, marked ``+dirty`` when the working tree differs from it."""
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


@dataclass
class Result:
    """What a measure found: ``figures`` go into its JSON line, ``measured`` into the table."""

    measure: str
    target: str
    measured: str
    met: bool | None
    figures: dict[str, Any] = field(default_factory=dict)

    def line(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            **self.figures,
            "target": self.target,
            "met": self.met,
            **machine(),
        }


def emit(result: Result) -> None:
    """Print the measure's JSON line now, so a long run shows progress as it goes."""
    print(json.dumps(result.line()), flush=True)


def _met(value: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "—"}[value]


def markdown(results: list[Result], quick: bool, workers: int) -> str:
    """The table for the README, headed by the machine and how the load was generated."""
    info = machine()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    mode = "quick, tiny sizes — proves the suite runs, not a measurement" if quick else "full"
    head = [
        f"Benchmarks ({mode}), {when}",
        "",
        f"Machine: {info['cores']} cores, {info['cpu']}; Python {sys.version.split()[0]}, "
        f"SQLite {sqlite3.sqlite_version}; datacat on SQLite (defaults), "
        f"{workers} worker{'s' if workers != 1 else ''}; datacat at {revision()}.",
        "Load from `wrk` (C) on the same machine: wrk and the server share the cores, so "
        "`wrk_cpu_pct` in each JSON line is CPU the server could not use.",
        "",
        "| measure | target | measured | met? |",
        "|---|---|---|---|",
    ]
    rows = [f"| {r.measure} | {r.target} | {r.measured} | {_met(r.met)} |" for r in results]
    return "\n".join(head + rows) + "\n"
