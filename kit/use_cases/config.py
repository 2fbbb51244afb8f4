"""Config section of the use-case phase (validated when the run config loads)."""
from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from kit.schema import ConfigPath, Section


class UseCasesSection(Section):
    """Where the portfolio comes from, the scoring weights, ROI settings and the pilot override."""

    portfolio_path: ConfigPath | None = Field(
        default=None, description="CSV of candidate use cases; default: the bundled demo portfolio."
    )
    portfolio: list[dict[str, Any]] | None = Field(
        default=None, description="Candidate use cases inline (same keys as the CSV columns)."
    )
    weights: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Overrides of criterion weights: {value: {annual_value: 0.5, ...}, feasibility: {...}}.",
    )
    maturity_level: int = Field(
        default=2, ge=1, le=5, description="Used only when the readiness artifact is absent."
    )
    discount_rate: float | None = Field(
        default=None, ge=0, lt=1, description="Yearly discount rate for the 3-year NPV; default 10%."
    )
    pilot: str | None = Field(default=None, description="Name of the use case to pilot (overrides the recommendation).")
    pilot_reason: str | None = Field(default=None, description="Why the configured pilot overrides the recommendation.")
    stability_draws: int | None = Field(default=None, ge=100, le=200_000, description="Weight perturbation draws; default 2000.")
    perturbation: float | None = Field(default=None, gt=0, lt=1, description="Relative weight perturbation; default 0.2 (±20%).")

    @model_validator(mode="after")
    def _one_source(self) -> "UseCasesSection":
        """Refuse a portfolio given both as a file and inline."""
        if self.portfolio_path is not None and self.portfolio is not None:
            raise ValueError("give either portfolio_path or an inline portfolio, not both")
        return self

    def check(self, config: Any) -> list[str]:
        """Validate weights and the portfolio when the config loads (every problem, one list)."""
        from kit.use_cases.portfolio import check_section

        return check_section(self, config)
