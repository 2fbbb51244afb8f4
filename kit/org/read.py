"""Finding run folders and loading their manifest and artifacts (the roll-up's only reads)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kit.manifest import KIND

ARTIFACTS = ("readiness", "use_cases", "training", "explain", "monitoring")
SCORE_FILE = "ml_test_score.json"
_KIT_FIELDS = {"run_name", "status", "phases", "kit_version"}


@dataclass
class LoadedRun:
    """One run folder's files as plain JSON values (None where absent), and what was wrong with them."""

    folder: Path
    manifest: dict[str, Any]
    artifacts: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    ml_test_score: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Skipped:
    """A folder given to the roll-up that is not a readable run, and why (one line)."""

    folder: Path
    reason: str


def _read_json(path: Path) -> tuple[Any, str | None]:
    """A JSON file's value, or None and why it could not be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path.name}: unreadable ({exc.__class__.__name__})"
    except ValueError:
        return None, f"{path.name}: not valid JSON (half-written or damaged)"


def _is_build_folder(folder: Path) -> bool:
    """A temporary build folder the chain leaves when a run is in progress or was killed (``.<out>.tmp-*``)."""
    return folder.name.startswith(".") and ".tmp-" in folder.name


def load_run(folder: Path) -> LoadedRun | Skipped:
    """Load one run folder, or say in one line why it is not a run the roll-up can read."""
    if _is_build_folder(folder):
        return Skipped(folder, "half-written run: the build folder of a run in progress or killed (no final report)")
    manifest, problem = _read_json(folder / "manifest.json")
    if problem:
        return Skipped(folder, f"half-written or damaged run: {problem}")
    if manifest is None:
        return Skipped(folder, "not a kit run folder (no manifest.json)")
    if not isinstance(manifest, dict) or not (manifest.get("kind") == KIND or _KIT_FIELDS <= manifest.keys()):
        return Skipped(folder, "not a kit run folder (manifest.json is not a kit manifest)")
    run = LoadedRun(folder, manifest)
    for name in ARTIFACTS:
        value, problem = _read_json(folder / "artifacts" / f"{name}.json")
        run.artifacts[name] = value if isinstance(value, dict) else None
        if problem:
            run.notes.append(f"artifacts/{problem}")
        elif value is not None and not isinstance(value, dict):
            run.notes.append(f"artifacts/{name}.json: not a JSON object, ignored")
    score, problem = _read_json(folder / SCORE_FILE)
    run.ml_test_score = score if isinstance(score, dict) else None
    if problem:
        run.notes.append(problem)
    return run


def _children(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` that are runs or build folders of runs, sorted by name."""
    try:
        subs = sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:
        return []
    return [p for p in subs if (p / "manifest.json").exists() or _is_build_folder(p)]


def find_runs(paths: list[str | Path]) -> list[Path]:
    """Every folder to read: each path itself when it is a run (or not a folder of runs), else its run sub-folders."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        children = [] if (path / "manifest.json").exists() or not path.is_dir() else _children(path)
        found.extend(children or [path])
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path.resolve() if path.exists() else path, None)
    return list(unique)


def load_runs(paths: list[str | Path]) -> tuple[list[LoadedRun], list[Skipped]]:
    """Load every run under ``paths``; folders that are not readable runs come back as ``Skipped``."""
    runs: list[LoadedRun] = []
    skipped: list[Skipped] = []
    for folder in find_runs(paths):
        if not folder.exists():
            skipped.append(Skipped(folder, "no such folder"))
        elif not folder.is_dir():
            skipped.append(Skipped(folder, "not a folder (pass run folders or a batch folder)"))
        else:
            loaded = load_run(folder)
            (runs if isinstance(loaded, LoadedRun) else skipped).append(loaded)
    return runs, skipped
