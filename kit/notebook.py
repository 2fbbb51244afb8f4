"""What every phase notebook does first: load the config and open the run folder."""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit import escape
from kit.artifacts import artifacts_dir, read_artifact, write_artifact
from kit.config import RunConfig, load_config
from kit.errors import KitError


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


def short_kit_errors() -> None:
    """In a notebook, show a kit error as its one clear message instead of a traceback."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def show(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> None:
        """Publish the error (papermill still sees a failed cell) with the message only."""
        shell._showtraceback(etype, value, [f"\x1b[31m{etype.__name__}\x1b[0m: {value}"])

    shell.set_custom_exc((KitError,), show)


def start(config_path: str | Path, run_dir: str | Path, interactive: bool = False) -> RunContext:
    """Load and validate the config, create the run folder, and return the run context."""
    quiet()
    short_kit_errors()
    escape.plain_tables()
    config = load_config(config_path)
    run_dir = Path(run_dir).expanduser().resolve()
    artifacts_dir(run_dir)
    return RunContext(config=config, run_dir=run_dir, interactive=interactive)


def engine_view(ctx: RunContext) -> Any:
    """Where this phase computes: in this process, or on the Dask cluster (with its dashboard link while it runs)."""
    from IPython.display import Markdown

    from kit.compute.lazy import engine_markdown

    return Markdown(engine_markdown(ctx.config))
