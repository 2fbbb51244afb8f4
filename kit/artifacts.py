"""Reading and writing phase artifacts: plain JSON files in ``run_dir/artifacts``."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit.errors import ArtifactError

_UMASK = os.umask(0)
os.umask(_UMASK)


def artifacts_dir(run_dir: str | Path) -> Path:
    """Return (and create) the artifacts folder of a run."""
    path = Path(run_dir) / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifact_path(run_dir: str | Path, name: str) -> Path:
    """Return the path of artifact ``name`` (``readiness`` -> ``artifacts/readiness.json``)."""
    return Path(run_dir) / "artifacts" / f"{name}.json"


def to_jsonable(obj: Any) -> Any:
    """Convert numpy, pandas, dataclass, path and date values to plain JSON values (NaN -> None)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if hasattr(obj, "model_dump"):
        return to_jsonable(obj.model_dump(mode="json"))
    if isinstance(obj, pd.DataFrame):
        return to_jsonable(obj.to_dict(orient="records"))
    if isinstance(obj, pd.Series):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(obj, (dt.datetime, dt.date, pd.Timestamp)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if obj is pd.NA or obj is pd.NaT:
        return None
    return obj


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON atomically: a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_jsonable(data), indent=2, sort_keys=False, allow_nan=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_artifact(run_dir: str | Path, name: str, data: dict[str, Any]) -> Path:
    """Write artifact ``name`` of a run as JSON and return its path."""
    artifacts_dir(run_dir)
    return write_json(artifact_path(run_dir, name), data)


def read_artifact(run_dir: str | Path, name: str, required: bool = True) -> dict[str, Any] | None:
    """Read artifact ``name`` of a run; a missing one is None, or an error when required."""
    path = artifact_path(run_dir, name)
    if not path.is_file():
        if not required:
            return None
        raise ArtifactError(
            f"{path}: artifact '{name}' not found; run the '{name}' phase first "
            f"(its notebook, or `python -m kit run CONFIG --phases ...` including it)"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc}); re-run the '{name}' phase") from exc
