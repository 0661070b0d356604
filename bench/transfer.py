"""``datacat import`` and ``datacat export`` of 1,000,000 events: rate and peak memory.

``python -m bench.transfer [--backend sqlite|postgresql] [--shape many|one] [--events N]``

A JSON Lines file is written here, in the export's own format (``many``: 1,000 sessions
of 1,000 events, 100 metrics and 10 state patches each; ``one``: a single session holding
every event, the case that would blow up a reader that loads a session whole). Then, each
as a real ``datacat`` process on a fresh database: import it, export it, and check that
the export is the file byte for byte. Prints one JSON line per step: seconds, events/s,
rows/s (events, metrics and patches), the process's CPU seconds and peak RSS
(``VmHWM``), and the machine's load average.
Not part of ``make bench``: it measures the command line tools, not the server.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from tests.support import throwaway_database

BASE_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


def write_file(path: Path, sessions: int, events: int, metrics: int, patches: int) -> int:
    """The synthetic export; returns its rows (events, metrics and patches)."""
    with path.open("wb") as out:
        for s in range(sessions):
            start = BASE_US + s * 60_000_000
            head = {
                "active": False,
                "created_us": start,
                "ended_us": start + events * 1000 + 1,
                "heartbeat_timeout_s": 30.0,
                "host": f"host-{s % 7}",
                "id": str(uuid.UUID(int=s + 1)),
                "last_seen_us": start + events * 1000 + 1,
                "metadata": {"run": s},
                "product": "bench",
                "state": {"phase": "done", "step": patches - 1},
                "status": "ended",
                "updated_us": start + events * 1000 + 1,
                "version": "1.0",
            }
            line = orjson.dumps(head, option=orjson.OPT_SORT_KEYS)[:-1]
            history = [
                {"client_id": None, "patch": {"phase": "done", "step": i}, "ts_us": start + i}
                for i in range(patches)
            ]
            out.write(line + b',"state_history":' + orjson.dumps(history) + b',"events":[')
            for first in range(0, events, 10_000):
                chunk = [
                    {
                        "client_id": f"e{i}" if i % 2 else None,
                        "data": {"i": i, "loss": 1 / (i + 1)},
                        "name": "step",
                        "ts_us": start + i * 1000,
                    }
                    for i in range(first, min(events, first + 10_000))
                ]
                out.write((b"," if first else b"") + orjson.dumps(chunk)[1:-1])
            rows = [
                {
                    "client_id": None,
                    "name": f"m{i % 5}",
                    "tags": {"gpu": i % 2},
                    "ts_us": start + i * 1000,
                    "value": i * 0.5,
                }
                for i in range(metrics)
            ]
            out.write(b'],"metrics":' + orjson.dumps(rows) + b"}\n")
    return sessions * (events + metrics + patches)


def run(command: list[str]) -> tuple[float, float, float]:
    """Seconds, CPU seconds and peak RSS (MiB) of one ``datacat`` process (the CPU time
    says what the wall time would be on an idle machine; this one is shared).

    The peak is the process's own ``VmHWM``, read until it exits: ``ru_maxrss`` would
    also count this process's pages, copied into the child by the fork before its exec.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "datacat.cli", *command], stdout=subprocess.DEVNULL
    )
    peak_kb = 0
    status_path = Path(f"/proc/{process.pid}/status")
    while True:
        # Still readable once the process has exited, until it is waited for.
        for field in status_path.read_text().splitlines():
            if field.startswith("VmHWM:"):
                peak_kb = max(peak_kb, int(field.split()[1]))
        if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
            break
        time.sleep(0.02)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{command[0]} exited {process.returncode}")
    return seconds, usage.ru_utime + usage.ru_stime, peak_kb / 1024


def measure(url: str, work: Path, shape: str, events: int) -> None:
    sessions, per = (1, events) if shape == "one" else (events // 1000, 1000)
    source = work / "source.jsonl"
    rows = write_file(source, sessions, per, per // 10, 10)
    size_mb = source.stat().st_size / 2**20
    for step in ("import", "export"):
        if step == "import":
            seconds, cpu, rss = run(["import", str(source), "--database-url", url])
        else:
            out = str(work / "again.jsonl")
            seconds, cpu, rss = run(["export", "-o", out, "--database-url", url])
        figures = {
            "step": step,
            "backend": url.split("+", 1)[0],
            "shape": shape,
            "sessions": sessions,
            "events": sessions * per,
            "rows": rows,
            "file_mb": round(size_mb, 1),
            "seconds": round(seconds, 2),
            "events_per_s": round(sessions * per / seconds),
            "rows_per_s": round(rows / seconds),
            "cpu_seconds": round(cpu, 2),
            "load_average": round(os.getloadavg()[0], 1),
            "peak_rss_mb": round(rss, 1),
        }
        print(orjson.dumps(figures).decode(), flush=True)
    if (work / "again.jsonl").read_bytes() != source.read_bytes():
        raise RuntimeError("the export differs from the imported file")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--shape", choices=("many", "one"), default="many")
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="datacat-transfer-") as scratch:
        work = Path(scratch)
        if args.backend == "sqlite":
            measure(f"sqlite+aiosqlite:///{work / 'bench.db'}", work, args.shape, args.events)
        else:
            with throwaway_database("bench_transfer") as url:
                measure(url, work, args.shape, args.events)


if __name__ == "__main__":
    main()
