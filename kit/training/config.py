"""Config section of this phase (validated when the run config loads)."""
from __future__ import annotations

from kit.schema import Section


class TrainingSection(Section):
    """Settings of this phase (placeholder until the phase lands)."""
