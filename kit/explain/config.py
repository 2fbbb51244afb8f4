"""Config section of the explainability phase (validated when the run config loads)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kit.schema import Scalar, Section

Tier = Literal["high", "medium", "low"]


class FairnessSettings(Section):
    """Fairness thresholds and grouping; unset thresholds come from kit/content/governance.yaml."""

    demographic_parity_ratio_min: float | None = Field(
        default=None, gt=0, le=1, description="Lowest allowed selection-rate ratio (four-fifths rule: 0.8)."
    )
    equalized_odds_difference_max: float | None = Field(
        default=None, ge=0, le=1, description="Largest allowed TPR/FPR gap between groups."
    )
    min_group_size: int | None = Field(
        default=None, ge=1, description="Smaller groups are reported as 'insufficient evidence'."
    )
    bands: dict[str, list[float]] = Field(
        default_factory=dict, description="Band edges for numeric sensitive columns, e.g. age: [25, 45, 65]."
    )
    bootstrap: int = Field(default=300, ge=0, le=5000, description="Bootstrap resamples for intervals (0: none).")
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="Level of the bootstrap intervals.")
    group_labels: dict[str, dict[Scalar, str]] = Field(
        default_factory=dict,
        description="Readable names of a sensitive column's groups, e.g. SeniorCitizen: {0: under 65, 1: 65 or older}.",
    )


class ReviewSettings(Section):
    """Size of the human review queue: what the reviewers can handle, as rows per period or a share."""

    capacity: int | None = Field(default=None, ge=1, description="Rows the reviewers can handle per period (needs volume).")
    volume: int | None = Field(default=None, ge=1, description="Rows the model scores per period.")
    period: str | None = Field(
        default=None, min_length=1, description="Period of capacity and volume (e.g. week); default from kit/content/explain.yaml."
    )
    share: float | None = Field(
        default=None, gt=0, le=1, description="Share of scored rows the reviewers can handle (instead of capacity/volume)."
    )
    coverage: float | None = Field(
        default=None, gt=0.5, lt=1,
        description="Regression: coverage of the prediction intervals (split conformal on validation residuals) whose "
                    "widest rows are queued; default from kit/content/explain.yaml (0.9).",
    )


class ModelCardSettings(Section):
    """User-provided facts for the model card (escaped in every output)."""

    owner: str | None = Field(default=None, description="Accountable owner; defaults to organization.owner.")
    intended_use: str | None = Field(default=None, description="Who uses the model for which decision.")
    out_of_scope: list[str] = Field(default_factory=list, description="Uses the model must not serve.")
    limitations: list[str] = Field(default_factory=list, description="Known limitations, added to the defaults.")


class ExplainSection(Section):
    """Settings of phase 3: SHAP sample budget, reason codes, fairness, review queue, model card."""

    tier: Tier | None = Field(
        default=None, description="Explainability tier; defaults to the pilot's tier (phase 1), else governance default."
    )
    time_budget_seconds: float = Field(
        default=4.0, gt=0, le=3600, description="Time allowed for the global SHAP sample; sets its size."
    )
    min_sample_rows: int = Field(default=200, ge=20, description="Global sample never smaller than this.")
    max_sample_rows: int = Field(default=20_000, ge=20, description="Global sample never larger than this.")
    shap_all_rows: bool = Field(
        default=False,
        description="Compute the global importance over every test row (per partition on the Dask engine) instead of "
                    "the time-budgeted sample; the sample still gives the stability measure and the figures.",
    )
    dependence_features: int = Field(default=3, ge=0, le=10, description="Dependence plots for this many top features.")
    reason_codes: int = Field(default=3, ge=1, le=10, description="Features per row in the reason codes.")
    explain_rows: list[Scalar] = Field(
        default_factory=list, description="Row ids (id column values, else row index) to explain with a waterfall."
    )
    review_band: float | None = Field(
        default=None, gt=0, lt=0.5,
        description="Optional cap: rows further than this from the threshold are never queued (the capacity sizes the queue).",
    )
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    fairness: FairnessSettings = Field(default_factory=FairnessSettings)
    model_card: ModelCardSettings = Field(default_factory=ModelCardSettings)

    def check(self, config: Any) -> list[str]:
        """Cross-field checks: sample bounds ordered, bands increasing and on sensitive columns."""
        problems = []
        if self.min_sample_rows > self.max_sample_rows:
            problems.append(
                f"min_sample_rows: {self.min_sample_rows} is above max_sample_rows {self.max_sample_rows}; "
                "lower it or raise max_sample_rows"
            )
        sensitive = list(getattr(getattr(config, "dataset", None), "sensitive", []) or [])
        problems += self.review_problems()
        problems += self.label_problems(sensitive)
        for column, edges in self.fairness.bands.items():
            if len(edges) < 1 or any(b <= a for a, b in zip(edges, edges[1:])):
                problems.append(f"fairness.bands.{column}: edges {edges} must be a non-empty increasing list")
            if sensitive and column not in sensitive:
                problems.append(
                    f"fairness.bands.{column}: not a sensitive column of the dataset ({', '.join(sensitive)}); "
                    "add it to dataset.sensitive or remove the bands"
                )
        return problems

    def review_problems(self) -> list[str]:
        """Review capacity needs the scoring volume, and excludes a share."""
        r = self.review
        if r.capacity is not None and r.share is not None:
            return ["review.capacity and review.share: both set; give capacity with volume, or a share, not both"]
        if r.capacity is not None and r.volume is None:
            return [f"review.capacity: {r.capacity} rows per period needs review.volume (rows scored per period) "
                    "to size the queue; add it, or give review.share instead"]
        if r.volume is not None and r.capacity is None:
            return ["review.volume: set without review.capacity; add the rows reviewers handle per period"]
        return []

    def label_problems(self, sensitive: list[str]) -> list[str]:
        """Group labels name sensitive columns, and name each group once with a non-empty label."""
        problems = []
        for column, labels in self.fairness.group_labels.items():
            if sensitive and column not in sensitive:
                problems.append(
                    f"fairness.group_labels.{column}: not a sensitive column of the dataset ({', '.join(sensitive)}); "
                    "fix the column name or add it to dataset.sensitive"
                )
            texts = [str(v).strip() for v in labels.values()]
            if any(not t for t in texts):
                problems.append(f"fairness.group_labels.{column}: empty label; give every group a name")
            dupes = sorted({t for t in texts if texts.count(t) > 1})
            if dupes:
                problems.append(
                    f"fairness.group_labels.{column}: label(s) {dupes} name more than one group; "
                    "give each group its own label (use fairness.bands to merge numeric groups)"
                )
        return problems
