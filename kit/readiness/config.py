"""Config section of the readiness phase: answers, red flags, capabilities, team and budget."""
from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field, field_validator

from kit.schema import ConfigPath, Section


class ReadinessSection(Section):
    """Evidence for phase 0; every key is optional, ids are checked against kit/content."""

    answers: dict[str, int] = Field(
        default_factory=dict, description="Question id -> answer 1 (nascent) to 5 (advanced).")
    red_flags: dict[str, bool] = Field(
        default_factory=dict, description="Red-flag id -> raised (true) or not (false).")
    prerequisites: dict[str, bool] = Field(
        default_factory=dict, description="Prerequisite id -> in place (true) or not (false).")
    capabilities: dict[str, bool] = Field(
        default_factory=dict, description="Capability id -> present (true) or not (false).")
    declared_level: int | None = Field(
        default=None, ge=1, le=5, description="The organization's self-assessed maturity level.")
    team: dict[str, int] = Field(
        default_factory=dict, description="Role id -> headcount (full-time equivalents).")
    first_year_budget: float | None = Field(
        default=None, ge=0, description="First-year ML budget, split by the guidance when given.")
    currency: str = Field(default="USD", description="Currency of first_year_budget.")
    ml_is_core_differentiator: bool = Field(
        default=False, description="ML is the product's competitive edge (build where it differentiates).")
    regulated: bool = Field(
        default=False, description="Stringent regulation applies (audit trail, residency, explainability).")
    profile_dataset: bool = Field(
        default=True, description="Profile the config's dataset as evidence for data readiness.")
    as_of: str | None = Field(
        default=None, description="Reference date (YYYY-MM-DD) for data freshness; defaults to today. Also the "
        "run's date in the organization roll-up (python -m kit org), which orders a unit's runs by it.")
    practices: dict[str, bool] = Field(
        default_factory=dict, description="Practice id -> done by hand (true) or not (false): the manual tests "
        "of the ML Test Score, half a point each (ids in kit/content/readiness.yaml, practices).")
    earlier_run: ConfigPath | None = Field(
        default=None, description="Report folder of an earlier run of this config (e.g. ../../reports/demo, "
        "the folder a re-run replaces): its ML Test Score caps the process pillar in phase 0, and the "
        "end-of-chain score re-checks training reproducibility and dependency changes against it. "
        "A folder that does not exist yet (the first run) is reported, not an error.")

    @field_validator("as_of", mode="before")
    @classmethod
    def _date_as_text(cls, value: Any) -> Any:
        """Accept an unquoted YAML date (2026-03-31) as its ISO text."""
        return value.isoformat() if isinstance(value, dt.date) else value

    def check(self, config: Any) -> list[str]:
        """Check ids and values against the content files; return 'key: problem; fix' lines."""
        from kit.readiness.validate import check_section

        return check_section(self)
