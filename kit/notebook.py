"""What every phase notebook does first: load the config and open the run folder."""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.artifacts import artifacts_dir, read_artifact, write_artifact
from kit.config import RunConfig, load_config


@dataclass
class RunContext:
    """A phase's view of one run: its validated config and its run folder."""

    config: RunConfig
    run_dir: Path
    interactive: bool = False

    @property
    def artifacts(self) -> Path:
        """The run's artifacts folder."""
        return artifacts_dir(self.run_dir)

    def read(self, name: str, required: bool = True) -> dict[str, Any] | None:
        """Read an earlier phase's artifact."""
        return read_artifact(self.run_dir, name, required=required)

    def write(self, name: str, data: dict[str, Any]) -> Path:
        """Write this phase's artifact."""
        return write_artifact(self.run_dir, name, data)


def quiet() -> None:
    """Silence library chatter that would clutter a report (never errors)."""
    for name in ("mlflow", "alembic", "py.warnings", "lightgbm", "shap"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*running over TCP.*")
    warnings.filterwarnings("ignore", message=".*list of ndarray.*")


def start(config_path: str | Path, run_dir: str | Path, interactive: bool = False) -> RunContext:
    """Load and validate the config, create the run folder, and return the run context."""
    quiet()
    config = load_config(config_path)
    run_dir = Path(run_dir).expanduser().resolve()
    artifacts_dir(run_dir)
    return RunContext(config=config, run_dir=run_dir, interactive=interactive)
