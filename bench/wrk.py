"""Drive ``wrk`` (C, epoll) with a Lua script and read its results as numbers.

wrk is the load generator because a Python client would saturate a core before the
server does; on a 2-core box wrk still shares the CPU with the server, so every run also
reports wrk's own CPU use (from ``wait4``'s rusage) to show how much it took.
The Lua ``done`` hook prints one machine-readable line, so no text parsing of wrk's
human summary is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.server import Server

_MARK = "WRKJSON "

_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,'
    .. '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,'
    .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""


def lua_string(text: str) -> str:
    """A Lua long-bracket literal holding ``text`` verbatim (JSON never contains ']==]')."""
    return "[==[" + text + "]==]"


def script(body: str) -> str:
    """A complete wrk script: the caller's request logic plus the JSON ``done`` report."""
    return body + "\n" + _DONE


@dataclass(frozen=True)
class WrkResult:
    """Counts and latency percentiles of one wrk run; ``ok`` excludes errors."""

    requests: int
    ok: int
    errors: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    bytes: int
    wrk_cpu_s: float
    server_cpu_s: float

    @property
    def ok_per_s(self) -> float:
        return self.ok / self.duration_s if self.duration_s else 0.0

    @property
    def wrk_cpu_pct(self) -> float:
        """wrk's CPU use as a percentage of one core over the run."""
        return 100 * self.wrk_cpu_s / self.duration_s if self.duration_s else 0.0

    @property
    def server_cpu_pct(self) -> float:
        """The server's CPU use (all threads) as a percentage of one core."""
        return 100 * self.server_cpu_s / self.duration_s if self.duration_s else 0.0


def run(
    server: Server,
    path: str,
    lua: str,
    *,
    connections: int,
    duration_s: float,
    threads: int = 1,
    timeout_s: float = 30.0,
) -> WrkResult:
    """Run wrk against ``server.url + path`` with the given request script."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script(lua))
        script_path = Path(handle.name)
    command = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={timeout_s:g}s",
        "-s",
        str(script_path),
        server.url + path,
    ]
    cpu_before = server.cpu_s()
    started = time.monotonic()
    try:
        with tempfile.TemporaryFile() as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            text = out.read().decode(errors="replace")
    finally:
        script_path.unlink(missing_ok=True)
    wall = time.monotonic() - started
    server_cpu = server.cpu_s() - cpu_before
    lines = [line for line in text.splitlines() if line.startswith(_MARK)]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({process.returncode}): {text[-2000:]}")
    raw = json.loads(lines[-1][len(_MARK) :])
    errors = sum(
        raw[key]
        for key in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    duration = raw["duration_us"] / 1e6 or wall
    return WrkResult(
        requests=raw["requests"],
        ok=max(0, raw["requests"] - raw["status_errors"]),
        errors=errors,
        duration_s=duration,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        mean_ms=raw["mean_us"] / 1000,
        bytes=raw["bytes"],
        wrk_cpu_s=usage.ru_utime + usage.ru_stime,
        server_cpu_s=server_cpu,
    )


def fields(result: WrkResult) -> dict[str, float | int]:
    """The figures every wrk-driven measure reports, rounded for reading."""
    return {
        "requests": result.requests,
        "errors": result.errors,
        "duration_s": round(result.duration_s, 2),
        "p50_ms": round(result.p50_ms, 2),
        "p90_ms": round(result.p90_ms, 2),
        "p99_ms": round(result.p99_ms, 2),
        "max_ms": round(result.max_ms, 2),
        "wrk_cpu_pct": round(result.wrk_cpu_pct, 1),
        "server_cpu_pct": round(result.server_cpu_pct, 1),
    }
