"""Two commits' ingest CPU cost side by side: ``bench.inprocess`` for each at the same time,
one per core, cores swapped every pair.

On a machine whose CPU speed wanders (one day here, the same pure-Python loop took
277-526 ms from run to run), runs one after another cannot resolve a 5 % difference: the
machine changes between them. Run together, both commits meet the same conditions, and
the median of the per-pair ratios says which costs more. Pairing a commit with itself
shows the harness's own spread (a median near 1.0, single pairs far from it)::

    git worktree add /tmp/before 8f7aad6
    python -m bench.paired /tmp/before . --only batch --pairs 16
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

import orjson


def _start(tree: Path, core: int, op: str, per_task: int) -> subprocess.Popen[bytes]:
    """``bench.inprocess`` with ``tree``'s sources first on the path, pinned to ``core``."""
    bench_root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{bench_root}"}
    command = [sys.executable, "-m", "bench.inprocess", "--only", op]
    command += ["--per-task", str(per_task), "--rounds", "3"]
    return subprocess.Popen(
        ["taskset", "-c", str(core), *command], env=env, stdout=subprocess.PIPE, cwd=bench_root
    )


def _cpu_us(process: subprocess.Popen[bytes]) -> float:
    out, _ = process.communicate()
    if process.returncode:
        raise SystemExit(f"bench.inprocess failed ({process.returncode})")
    figures = [orjson.loads(line) for line in out.splitlines() if line.startswith(b"{")]
    return float(figures[-1]["cpu_us"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path, help="source tree of the first commit")
    parser.add_argument("second", type=Path, help="source tree of the second commit")
    parser.add_argument("--only", default="batch", help="one bench.inprocess op")
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--per-task", type=int, default=400)
    args = parser.parse_args()
    first: list[float] = []
    second: list[float] = []
    for pair in range(args.pairs):
        cores = (0, 1) if pair % 2 else (1, 0)
        running = [
            _start(tree.resolve(), core, args.only, args.per_task)
            for tree, core in zip((args.first, args.second), cores, strict=True)
        ]
        first.append(_cpu_us(running[0]))
        second.append(_cpu_us(running[1]))
        print(f"pair {pair + 1}: {first[-1]:,.0f} / {second[-1]:,.0f} µs", flush=True)
    ratios = [b / a for a, b in zip(first, second, strict=True)]
    print(
        f"{args.only}: CPU µs per request, median {statistics.median(first):,.0f} / "
        f"{statistics.median(second):,.0f} (best {min(first):,.0f} / {min(second):,.0f}); "
        f"second/first per pair: median {statistics.median(ratios):.3f}, "
        f"range {min(ratios):.2f}-{max(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
