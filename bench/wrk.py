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
import signal
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
class Load:
    """One wrk configuration; the same one drives datacat and the references of a row."""

    path: str
    lua: str
    connections: int = 32
    threads: int = 2


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


def _write_script(lua: str) -> Path:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script(lua))
        return Path(handle.name)


def _command(
    server: Server, load: Load, duration_s: float, timeout_s: float, path: Path
) -> list[str]:
    return [
        "wrk",
        f"-t{min(load.threads, load.connections)}",
        f"-c{load.connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={timeout_s:g}s",
        "-s",
        str(path),
        server.url + load.path,
    ]


def _result(
    text: str, returncode: int, usage: os.struct_rusage, wall: float, server_cpu: float
) -> WrkResult:
    lines = [line for line in text.splitlines() if line.startswith(_MARK)]
    if returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({returncode}): {text[-2000:]}")
    raw = json.loads(lines[-1][len(_MARK) :])
    errors = sum(
        raw[key]
        for key in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    duration = wall if wall > 0 else raw["duration_us"] / 1e6
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


def run(server: Server, load: Load, *, duration_s: float, timeout_s: float = 60.0) -> WrkResult:
    """Run wrk against ``server`` for ``duration_s`` with the load's script."""
    script_path = _write_script(load.lua)
    command = _command(server, load, duration_s, timeout_s, script_path)
    cpu_before = server.cpu_s()
    try:
        with tempfile.TemporaryFile() as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            text = out.read().decode(errors="replace")
    finally:
        script_path.unlink(missing_ok=True)
    server_cpu = server.cpu_s() - cpu_before
    # wrk's own duration: it starts its clock after the connections are set up.
    return _result(text, process.returncode, usage, 0.0, server_cpu)


_STOP_AT = r"""
local share = {share}
local answered = 0
response = function(status, headers, body)
  answered = answered + 1
  if answered == share then
    io.write("WRKDONE\n")
    io.flush()
    wrk.thread:stop()
  end
end
"""


def run_count(server: Server, load: Load, total: int, *, min_rate: float = 200) -> WrkResult:
    """Send ``total`` requests (split evenly over wrk's threads) and time them.

    wrk only knows durations, so each thread stops itself once it has its share of
    answers and says so on stdout; the clock stops at the last thread's word, and wrk is
    then interrupted (SIGINT ends its wait and prints the summary). A few requests may be
    in flight when a thread stops; the server still handles them, so a caller that needs
    the exact count reads it back from the server. wrk keeps waiting after a Lua error,
    so any line that is not wrk's banner or a thread's word ends the run at once, and a
    server slower than ``min_rate`` req/s ends it at the duration cap.
    """
    threads = min(load.threads, load.connections)
    if total % threads:
        raise ValueError(f"{total} requests do not split evenly over {threads} threads")
    script_path = _write_script(load.lua + _STOP_AT.replace("{share}", str(total // threads)))
    command = _command(server, load, max(60.0, total / min_rate), 60.0, script_path)
    cpu_before = server.cpu_s()
    server_cpu = 0.0
    done = 0
    started = time.monotonic()
    wall = 0.0
    text: list[str] = []
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert process.stdout is not None
        for raw_line in process.stdout:
            line = raw_line.decode(errors="replace")
            text.append(line)
            if line.startswith("WRKDONE"):
                done += 1
                if done == threads:
                    wall = time.monotonic() - started
                    server_cpu = server.cpu_s() - cpu_before
                    process.send_signal(signal.SIGINT)
            elif done < threads and not line.startswith(("Running ", "  ")):
                process.kill()  # a Lua or connection error: wrk would idle to the cap
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        script_path.unlink(missing_ok=True)
    if done < threads:
        raise RuntimeError(f"wrk ended before {total} answers: {''.join(text)[-2000:]}")
    return _result("".join(text), process.returncode, usage, wall, server_cpu)


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
