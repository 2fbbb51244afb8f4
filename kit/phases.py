"""The five phases of the kit, in chain order."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


@dataclass(frozen=True)
class Phase:
    """One phase: its name, notebook and artifact."""

    index: int
    name: str
    title: str
    artifact: str

    @property
    def notebook(self) -> str:
        """File name of the phase notebook, e.g. ``00_readiness.ipynb``."""
        return f"{self.index:02d}_{self.name}.ipynb"


PHASES: tuple[Phase, ...] = (
    Phase(0, "readiness", "Readiness and maturity", "readiness"),
    Phase(1, "use_cases", "Use-case selection", "use_cases"),
    Phase(2, "training", "Training and registry", "training"),
    Phase(3, "explainability", "Explainability and responsible AI", "explain"),
    Phase(4, "monitoring", "Monitoring", "monitoring"),
)

PHASE_NAMES = tuple(p.name for p in PHASES)


def get_phase(name: str) -> Phase:
    """Return the phase called ``name``."""
    for phase in PHASES:
        if phase.name == name:
            return phase
    raise KeyError(name)
