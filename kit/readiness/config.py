"""Config section of the readiness phase: answers, red flags, capabilities, team and budget."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from kit.schema import Section


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
        default=None, description="Reference date (YYYY-MM-DD) for data freshness; defaults to today.")

    def check(self, config: Any) -> list[str]:
        """Check ids and values against the content files; return 'key: problem; fix' lines."""
        from kit.readiness.validate import check_section

        return check_section(self)
