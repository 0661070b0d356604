"""How a benchmark run is set up: sizes (full or quick), the wrk protocol, scratch space."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Config:
    """Shared by every measure; ``quick`` shrinks sizes so the whole suite takes ~1 minute.

    ``runs`` and ``duration_s`` are the request-rate protocol: each figure is the median of
    ``runs`` wrk runs of ``duration_s``, each against a fresh server on a fresh file, so
    one unlucky run (a checkpoint, a noisy neighbour) cannot make or break a target.
    """

    quick: bool
    workdir: Path
    runs: int = 3
    duration_s: float = 10.0

    @classmethod
    def make(cls, quick: bool, workdir: Path) -> Config:
        return cls(quick, workdir, runs=1 if quick else 3, duration_s=1.0 if quick else 10.0)

    def db(self, name: str, template: Path | None = None) -> Path:
        """A fresh SQLite path for one run, empty or a copy of a seeded ``template``.

        Copying a file that was filled once through the API keeps read measures' runs
        independent (each server starts cold on its own file) without seeding three times.
        """
        path = self.workdir / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        if template is not None:
            shutil.copyfile(template, path)
        return path

    def pick(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full
