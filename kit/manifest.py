"""The run manifest: what makes a report folder reproducible and what happened in it."""
from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from kit import __version__
from kit.compute.engine import active_record
from kit.config import RunConfig
from kit.data import file_sha256

KIND = "kit-report"  # marks a folder as a kit report (only those are replaced with --force)
_KIT_FIELDS = {"run_name", "status", "phases", "config", "kit_version", "started"}  # manifests before KIND
TRACKED_PACKAGES = (
    "numpy", "pandas", "scipy", "scikit-learn", "xgboost", "lightgbm", "shap", "mlflow",
    "pandera", "fairlearn", "matplotlib", "papermill", "nbconvert", "ipykernel", "ipywidgets",
    "pydantic", "pyyaml",
)


@dataclass
class PhaseRecord:
    """What happened to one phase of a run."""

    name: str
    status: str = "pending"  # ok | failed | skipped | pending
    seconds: float | None = None
    notebook: str | None = None
    html: str | None = None
    error: str | None = None


@dataclass
class Manifest:
    """Everything needed to reproduce and audit one run."""

    run_name: str
    status: str
    phases: list[PhaseRecord]
    config: dict[str, Any]
    data_files: list[dict[str, Any]]
    seeds: dict[str, int]
    kit_version: str
    python: str
    packages: dict[str, str]
    platform: str
    started: str
    finished: str | None = None
    seconds: float | None = None
    organization: str | None = None
    business_unit: str | None = None
    as_of: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    compute: dict[str, Any] = field(default_factory=dict)
    kind: str = KIND

    def failed_phase(self) -> PhaseRecord | None:
        """The phase that failed, if any."""
        return next((p for p in self.phases if p.status == "failed"), None)


def is_kit_report(folder: Path) -> bool:
    """Whether ``folder`` holds a kit report: its manifest.json says so (or has every field of a kit manifest)."""
    try:
        data = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and (data.get("kind") == KIND or _KIT_FIELDS <= data.keys())


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages a run depends on."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def new_manifest(config: RunConfig, phases: list[str], started: str, options: dict[str, Any]) -> Manifest:
    """Start a manifest for a run of ``phases`` with ``config``."""
    return Manifest(
        run_name=config.name or "run",
        status="running",
        phases=[PhaseRecord(name=p) for p in phases],
        config={"path": str(config.source_path), "sha256": config.source_sha256},
        data_files=[{"path": str(p), "sha256": file_sha256(p)} for p in config.data_files()],
        seeds={"seed": config.seed},
        kit_version=__version__,
        python=sys.version.split()[0],
        packages=package_versions(),
        platform=platform.platform(),
        started=started,
        organization=config.organization.name,
        business_unit=config.organization.business_unit,
        as_of=config.readiness.as_of or started[:10],
        options=options,
        compute=active_record(),
    )
