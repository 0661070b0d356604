"""How a benchmark run is set up: sizes (full or quick), scratch space, server workers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Config:
    """Shared by every measure; ``quick`` shrinks sizes so the whole suite takes ~1 minute."""

    quick: bool
    workdir: Path
    workers: int = 1

    def db(self, name: str) -> Path:
        """A fresh SQLite path for one measure, so no measure sees another's rows."""
        path = self.workdir / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return path

    def pick(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full
