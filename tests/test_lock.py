"""The lock, requirements/constraints.txt, is what `make` and the image install: the venv the
tests run in must hold exactly its versions, and it must cover every declared dependency, so
that a passing suite vouches for what users and the container get."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "constraints.txt"
TOOLS = ROOT / "requirements" / "tools.in"
LOCK_PATH = "requirements/constraints.txt"


def lock_lines(text: str) -> list[Requirement]:
    """Every requirement line of a uv/pip-compile output (annotations are comments)."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [Requirement(line) for line in lines if line]


def pins_here(text: str) -> dict[NormalizedName, str]:
    """The pins whose markers hold on this interpreter and platform (the lock is universal)."""
    pins: dict[NormalizedName, str] = {}
    for req in lock_lines(text):
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = canonicalize_name(req.name)
        assert name not in pins, f"{req.name} pinned twice for this platform"
        [spec] = req.specifier
        pins[name] = spec.version
    return pins


def declared() -> list[Requirement]:
    """What the project asks for: its dependencies, the [dev] extra, its build backend and
    the install/build tools."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    raw = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["dev"],
        *project["build-system"]["requires"],
        *(line.split("#", 1)[0].strip() for line in TOOLS.read_text().splitlines()),
    ]
    return [Requirement(line) for line in raw if line]


def needed_by_datacat() -> dict[NormalizedName, str | None]:
    """Every distribution the installed datacat[dev] needs, directly or not, with the version
    installed (None when missing), walking the installed metadata and its markers."""
    found: dict[NormalizedName, str | None] = {}
    todo: list[tuple[str, frozenset[str]]] = [("datacat", frozenset({"dev"}))]
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        key = (canonicalize_name(name), extras)
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            found[key[0]] = None
            continue
        if key[0] != "datacat":
            found[key[0]] = dist.version
        for raw in dist.requires or []:
            req = Requirement(raw)
            applies = req.marker is None or any(
                req.marker.evaluate({"extra": extra}) for extra in {"", *extras}
            )
            if applies:
                todo.append((req.name, frozenset(req.extras)))
    return found


def test_every_lock_line_is_one_exact_version() -> None:
    loose = [str(req) for req in lock_lines(LOCK.read_text()) if not _exact(req)]
    assert not loose, f"not pinned with a single ==: {loose}"
    assert pins_here(LOCK.read_text())


def _exact(req: Requirement) -> bool:
    specs = list(req.specifier)
    return len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version


def test_the_venv_holds_exactly_the_locked_versions() -> None:
    pins = pins_here(LOCK.read_text())
    needed = needed_by_datacat()
    assert len(needed) > 30  # the walk reached the transitive dependencies, not just pyproject's
    wrong = {
        name: (installed, pins.get(name))
        for name, installed in sorted(needed.items())
        if installed is None or pins.get(name) != installed
    }
    assert not wrong, (
        "installed vs locked (None: absent); run `make lock` after changing dependencies, "
        f"then `make lint` to reinstall: {wrong}"
    )


def test_every_declared_dependency_is_locked_within_its_range() -> None:
    pins = pins_here(LOCK.read_text())
    problems = []
    for req in declared():
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None:
            problems.append(f"{req} is not in the lock")
        elif not req.specifier.contains(pinned, prereleases=True):
            problems.append(f"{req} but the lock has {pinned}")
    assert not problems, "run `make lock`: " + "; ".join(problems)


def test_the_lock_is_stamped_with_its_refresh_command() -> None:
    assert "make lock" in LOCK.read_text().split("\n", 3)[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_installs_from_the_lock_and_reinstalls_when_it_changes(tmp_path: Path) -> None:
    """The real Makefile in a copy of the checkout, with a venv whose pip only records its
    arguments: what matters here is what make asks pip for, and when (the real install from
    the lock is what the venv test above checks)."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "requirements").mkdir()
    lock = tmp_path / LOCK_PATH
    original = LOCK.read_text()
    lock.write_text(original)
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").touch()
    calls = tmp_path / "pip-calls"
    (bin_dir / "pip").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (bin_dir / "pip").chmod(0o755)

    def install() -> list[str]:
        """`make` the dev stamp (the name make computes) and the pip calls it made."""
        calls.unlink(missing_ok=True)
        dry = subprocess.run(
            ["make", "-n", "lint", "VENV=venv"], cwd=tmp_path, capture_output=True, text=True
        ).stdout
        stamps = re.findall(r"venv/\.installed-dev-\w+", dry)
        if stamps:
            subprocess.run(
                ["make", stamps[0], "VENV=venv"], cwd=tmp_path, capture_output=True, check=True
            )
        return calls.read_text().splitlines() if calls.exists() else []

    first = install()
    assert len(first) == 2, first
    assert all(f"-c {LOCK_PATH}" in call for call in first), first
    assert first[0].endswith(" pip")  # pip itself first, from the lock
    assert f"--build-constraint {LOCK_PATH}" in first[1] and first[1].endswith("-e .[dev]")
    assert install() == []  # installed and unchanged: nothing to do

    # Stamps follow the lock's content, not only its time: a changed lock that is older than
    # the stamp (copied with its times kept: rsync -t, an unpacked archive) reinstalls...
    def write_lock_dated_in_the_past(text: str) -> None:
        lock.write_text(text)
        os.utime(lock, (1_000_000_000, 1_000_000_000))

    write_lock_dated_in_the_past(
        re.sub(r"^httpx==.*$", "httpx==0.0.0", original, count=1, flags=re.M)
    )
    assert len(install()) == 2
    # ...and so does going back to the earlier lock: its old stamp no longer counts.
    write_lock_dated_in_the_past(original)
    assert len(install()) == 2
    assert install() == []


def test_the_image_installs_from_the_lock() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    dockerfile = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    assert f"COPY {LOCK_PATH} " in dockerfile
    installs = re.findall(r"pip install [^\n&\\]*", dockerfile)
    assert len(installs) == 4, installs
    assert all(re.search(r"-c \S*constraints\.txt ", line) for line in installs), installs
    # Isolation would fetch hatchling unpinned; the locked one is installed beside build.
    assert "python -m build --wheel --no-isolation" in dockerfile
