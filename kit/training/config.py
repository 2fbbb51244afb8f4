"""Config section of the training phase (validated when the run config loads)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from kit.content import load
from kit.schema import Section

_Q = load("training")["quality"]

Algorithm = Literal["xgboost", "lightgbm"]
MetricName = Literal["roc_auc", "pr_auc", "log_loss", "brier", "f1", "recall", "precision", "accuracy",
                     "balanced_accuracy", "macro_f1", "rmse", "mae", "r2", "mape"]


class CostsSection(Section):
    """Business cost of each kind of error (any unit, e.g. euros per case)."""

    false_positive: float = Field(ge=0, description="Cost of flagging a case that is not positive.")
    false_negative: float = Field(ge=0, description="Cost of missing a positive case.")


class ApprovalSection(Section):
    """No longer accepted: a sign-off in the config cannot have seen the phase-3 evidence."""

    approved_by: str = Field(min_length=1, description="Who signs off (name and role).")
    reason: str = Field(min_length=1, description="Why the model may go live.")


class TuningSection(Section):
    """Optional small random search per algorithm, scored on the validation split."""

    trials: int = Field(default=0, ge=0, le=200, description="Parameter sets tried per algorithm (0 = defaults only).")
    seconds: float | None = Field(default=None, gt=0, description="Time budget per algorithm; stops the search early.")


class TrainingSection(Section):
    """Settings of the training phase; every key has a default."""

    algorithms: list[Algorithm] = Field(default_factory=lambda: ["xgboost", "lightgbm"], min_length=1,
                                        description="Gradient-boosting libraries to train; the best on validation wins.")
    valid_size: float = Field(default=0.2, gt=0, lt=0.5, description="Share of rows for early stopping and the threshold (binary).")
    test_size: float = Field(default=0.2, gt=0, lt=0.5, description="Share of rows held out for the final metrics.")
    min_rows: int = Field(default=200, ge=50, description="Fewer usable rows than this is an error.")
    max_trees: int = Field(default=600, ge=10, le=20000, description="Upper bound on boosting rounds.")
    early_stopping_rounds: int = Field(default=40, ge=5, description="Stop when validation loss has not improved for this many rounds.")
    imbalance: Literal["auto", "weight", "none"] = Field(
        default="auto", description="Weight the positive class: 'auto' does so when it is rarer than the content threshold."
    )
    tuning: TuningSection = Field(default_factory=TuningSection)
    selection_metric: MetricName = Field(default="roc_auc", description="Validation metric that picks the best candidate and the gates compare; must suit the task. Default: the task's headline metric (binary roc_auc, multiclass macro_f1, regression rmse).")
    costs: CostsSection | None = Field(default=None, description="Error costs; these win over the pilot's costs (which apply only when this is not set).")
    threshold: float | None = Field(default=None, gt=0, lt=1, description="Fix the decision threshold instead of choosing it.")
    bootstrap: int = Field(default=300, ge=0, le=5000, description="Bootstrap resamples for confidence intervals (0 = none).")
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="Confidence level of the intervals.")
    drop_leaky: bool = Field(default=True, description="Drop features the leakage screen flags (with a warning).")
    leakage_auc: float = Field(
        default=_Q["leakage_auc"], gt=0.5, le=1.0,
        description="Leakage screen: a feature whose ROC AUC on its own (training rows) reaches this is a leak, "
        "dropped unless drop_leaky is false. A feature far ahead of all others only gets a warning.",
    )
    contract_tolerance: float = Field(default=0.01, ge=0, le=0.5, description="Gate: share of test rows per column that may break a value rule (range, level).")
    baseline_margin: float = Field(default=0.0, ge=0, le=0.5, description="Gate: the selection metric must beat the best baseline by this much (in its better direction).")
    regression_tolerance: float = Field(default=0.005, ge=0, le=0.2, description="Gate: the selection metric may be at most this much worse than the champion's on the same test rows.")
    min_test_rows: int | None = Field(default=None, ge=1, description="Gate: fewer test rows than this block promotion; default from kit/content/training.yaml (100).")
    min_test_class_count: int | None = Field(default=None, ge=1, description="Gate: fewer test rows of either class than this block promotion; default from kit/content/training.yaml (10).")
    require_approval: bool | None = Field(default=None, description="Human sign-off before promotion (after phase 3, with `python -m kit signoff REPORT_DIR`); default: only for high-stakes use cases.")
    approval: ApprovalSection | None = Field(default=None, description="Not accepted: sign off after reading the report with `python -m kit signoff REPORT_DIR --by ... --why ...`.")
    stakes: Literal["high", "medium", "low"] | None = Field(default=None, description="Overrides the pilot's stakes.")
    model_name: str | None = Field(default=None, description="Registered model name; default <run name>-<target>-<fingerprint of target and sorted features>.")
    experiment: str | None = Field(default=None, description="MLflow experiment; default kit/<run name>.")
    tracking_uri: str | None = Field(default=None, description="MLflow tracking URI; default $KIT_TRACKING_URI or the project's SQLite store.")
    track: bool = Field(default=True, description="Log candidates to MLflow and register the selected model.")

    def check(self, config: object) -> list[str]:
        """Cross-field checks, returned as key-path problems."""
        problems = []
        if self.valid_size + self.test_size >= 0.8:
            problems.append(
                f"valid_size + test_size: {self.valid_size + self.test_size:.2f} leaves under 20% to train on; lower them"
            )
        if len(set(self.algorithms)) != len(self.algorithms):
            problems.append("algorithms: listed twice; name each algorithm once")
        if self.approval is not None:
            problems.append(
                "approval: a sign-off written in the config cannot have seen the fairness and tier evidence of phase 3; "
                "remove it, run the chain, read the report, then sign off: "
                'python -m kit signoff REPORT_DIR --by "name, role" --why "what was reviewed"'
            )
        return problems
