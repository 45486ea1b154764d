"""The lower bounds in pyproject.toml are real: every declared package at its floor installs into a fresh
virtual environment and Visitt imports there.

The slow packaging test (minutes: it installs from the package index, through pip's cache): marked
``packaging``; ``pytest -m "not packaging"`` leaves it out.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_EXTRAS = ("postgres", "redis", "testroom", "hypercorn", "granian")  # not the test or bench tools
FLOOR = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+(\[[^\]]*\])?)\s*>=\s*(?P<version>[^,;\s]+)")


def floors() -> list[str]:
    """Each declared requirement (dependencies and the runtime extras) pinned to its lower bound."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in RUNTIME_EXTRAS:
        declared += project["optional-dependencies"][extra]
    pinned: dict[str, str] = {}
    for requirement in declared:
        match = FLOOR.match(requirement)
        assert match, f"{requirement!r} has no lower bound"
        pinned[match["name"].lower()] = f"{match['name']}=={match['version']}"
    return sorted(pinned.values())


def test_every_declared_requirement_has_a_lower_bound_and_no_upper_one() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        assert ">=" in requirement and "<" not in requirement.replace(">=", ""), requirement
    assert any(pin.startswith("fastapi==") for pin in floors())


@pytest.mark.packaging
def test_the_lower_bounds_install_and_visitt_imports(tmp_path: Path) -> None:
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = str(environment / "bin" / "python")
    # --no-compile: pip would byte-compile every file of every package (CPU the test does not need: the
    # import below compiles what Visitt uses)
    install = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
                              *floors()], capture_output=True, text=True, timeout=1200)
    assert install.returncode == 0, install.stderr[-3000:]
    imported = subprocess.run(
        [python, "-c", "import visitt.app, visitt.cli, visitt.ops.serving, hypercorn.middleware, granian.utils.proxies"],
        capture_output=True, text=True, timeout=120, cwd=ROOT)  # visitt from the source tree
    assert imported.returncode == 0, imported.stderr[-3000:]
