"""environment.yml and pyproject.toml declare the same dependencies."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from PyPI names
CONDA_NAMES = {"pyyaml": "pyyaml"}


def _split(requirement: str) -> tuple[str, str]:
    """Split 'name>=1.0' into ('name', '>=1.0'), normalising the name."""
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(.*)$", requirement)
    assert match, requirement
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = data["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return dict(_split(r) for r in reqs)


def _conda() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = [d for d in env["dependencies"] if isinstance(d, str) and not d.startswith(("python", "pip"))]
    return dict(_split(d) for d in deps)


def test_same_packages_and_versions() -> None:
    assert _conda() == {CONDA_NAMES.get(k, k): v for k, v in _pyproject().items()}


def test_same_python_floor() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python.replace("python", "") == data["project"]["requires-python"]


def test_environment_installs_the_kit() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip
