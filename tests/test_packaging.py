"""What the container image relies on: a lint-clean Dockerfile and a self-sufficient wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_wheel_carries_migrations_and_ui_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("datacat-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "datacat/_alembic/env.py" in names
    assert "datacat/_alembic/versions/0001_initial.py" in names
    assert any(name.startswith("datacat_web/") for name in names)
    assert any(name.startswith("datacat_client/") for name in names)
