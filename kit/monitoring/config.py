"""Config section of the monitoring phase; every default comes from kit/content/monitoring.yaml."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from kit.content import load
from kit.errors import did_you_mean
from kit.schema import ConfigPath, Scalar, Section, TimeFormat

_C = load("monitoring")
Severity = Literal["info", "warning", "critical"]
RuleName = Literal["recall_floor", "auc_drop", "rmse_rise", "mae_rise", "accuracy_drop", "macro_f1_drop",
                   "psi_top_k", "prediction_drift", "data_quality", "latency"]
RetrainingMetric = Literal["roc_auc", "average_precision", "f1", "recall", "precision",
                           "rmse", "mae", "accuracy", "balanced_accuracy", "macro_f1"]
QualityCheck = Literal["empty_batch", "missing_column", "dtype_changed", "missing_spike", "out_of_range", "unseen_category",
                       "non_finite"]
InjectionKind = Literal[
    "gradual_shift", "sudden_shift", "category_frequency", "new_category",
    "concept_flip", "missing_spike", "unit_change",
]


class DriftSettings(Section):
    """How drift is measured: bins fixed on the reference, PSI epsilon, false discovery rate."""

    bins: int = Field(default=_C["drift"]["bins"], ge=2, le=100, description="Quantile bins, fixed on the reference rows.")
    epsilon: float = Field(default=_C["drift"]["epsilon"], gt=0, lt=0.1,
                           description="Floor for bin proportions before the log in PSI (empty bins).")
    min_rows_per_bin: int = Field(default=_C["drift"]["min_rows_per_bin"], ge=1,
                                  description="Reference rows needed per bin (bins x this = smallest usable reference).")
    fdr_alpha: float = Field(default=_C["drift"]["fdr_alpha"], gt=0, lt=1,
                             description="Benjamini-Hochberg false discovery rate across features, per batch.")


class AlertSettings(Section):
    """Alert rules and their thresholds (defaults from the framework, phase 4)."""

    recall_floor: float = Field(default=_C["alerts"]["recall_floor"], gt=0, le=1,
                                description="Alert when recall falls below this (see recall_floor_basis).")
    recall_floor_basis: Literal["champion", "absolute"] = Field(
        default=_C["alerts"]["recall_floor_basis"],
        description="champion: the floor is this share of the champion's test recall; absolute: recall itself.")
    auc_relative_drop: float = Field(default=_C["alerts"]["auc_relative_drop"], gt=0, lt=1,
                                     description="Alert when AUC falls by more than this share of the champion's.")
    psi_moderate: float = Field(default=_C["alerts"]["psi_moderate"], gt=0, description="PSI from which a shift is moderate.")
    psi_significant: float = Field(default=_C["alerts"]["psi_significant"], gt=0,
                                   description="PSI from which a shift is significant (alert on key features).")
    top_k: int = Field(default=_C["alerts"]["top_k"], ge=1,
                       description="Key features: the k most important (from explainability, else all features).")
    prediction_psi: float = Field(default=_C["alerts"]["prediction_psi"], gt=0,
                                  description="Alert when the score distribution's PSI reaches this.")
    missing_increase: float = Field(default=_C["alerts"]["missing_increase"], ge=0, le=1,
                                    description="Alert when a column's missing share exceeds the reference's by more.")
    out_of_range_share: float = Field(default=_C["alerts"]["out_of_range_share"], ge=0, le=1,
                                      description="Alert when more of a column's values lie outside the reference range.")
    unseen_share: float = Field(default=_C["alerts"]["unseen_share"], ge=0, le=1,
                                description="Alert when more of a column's values are categories the reference never saw.")
    rmse_relative_rise: float = Field(default=_C["alerts"]["rmse_relative_rise"], gt=0,
                                      description="Regression: alert when RMSE rises by more than this share of the watched model's test RMSE.")
    mae_relative_rise: float = Field(default=_C["alerts"]["mae_relative_rise"], gt=0,
                                     description="Regression: alert when MAE rises by more than this share of the watched model's test MAE.")
    accuracy_relative_drop: float = Field(default=_C["alerts"]["accuracy_relative_drop"], gt=0, lt=1,
                                          description="Multiclass: alert when accuracy falls by more than this share of the watched model's.")
    macro_f1_relative_drop: float = Field(default=_C["alerts"]["macro_f1_relative_drop"], gt=0, lt=1,
                                          description="Multiclass: alert when macro F1 falls by more than this share of the watched model's.")
    severities: dict[RuleName, Severity] = Field(default_factory=lambda: dict(_C["alerts"]["severities"]),
                                                 description="Severity of each alert rule.")
    quality_severities: dict[QualityCheck, Severity] = Field(
        default_factory=lambda: dict(_C["alerts"]["quality_severities"]),
        description="Severity of each data-quality check (broken data critical, new-but-plausible data a warning).")


class RetrainingSettings(Section):
    """When to train a challenger, on what, and when it may replace the champion."""

    enabled: bool = Field(default=True, description="Train a challenger when a trigger rule fires.")
    trigger_rules: list[RuleName] = Field(default_factory=lambda: list(_C["retraining"]["trigger_rules"]),
                                          description="Alert rules whose firing triggers retraining.")
    recent_batches: int = Field(default=_C["retraining"]["recent_batches"], ge=1,
                                description="Not used since the walk-forward replay (a challenger learns from every usable labelled "
                                            "batch up to its decision); accepted so older configs still load.")
    evaluation_batches: int = Field(default=_C["retraining"]["evaluation_batches"], ge=1,
                                    description="Full labelled batches right after a decision, never trained on, that the serving model and "
                                                "the challenger are judged on.")
    metric: RetrainingMetric = Field(
        default=_C["retraining"]["metric"],
        description="Metric of that comparison; a regression or multiclass run uses its task's metric (rmse, macro_f1) "
                    "unless this names one of that task's metrics.")
    promote_margin: float = Field(default=_C["retraining"]["promote_margin"], ge=0,
                                  description="The challenger must beat the champion by at least this.")
    fairness_tolerance: float = Field(default=_C["retraining"]["fairness_tolerance"], ge=0, le=1,
                                      description="How much the challenger's equalized-odds difference may exceed the champion's.")
    fairness_min_group: int = Field(default=_C["retraining"]["fairness_min_group"], ge=1,
                                    description="Rows a group needs (and 5 of each class, as in phase 3: kit/content/governance.yaml) to count in the fairness gate.")
    max_challengers: int = Field(default=_C["retraining"]["max_challengers"], ge=0, le=50,
                                 description="Walk-forward replay: most challengers trained in one replay.")
    cooldown_batches: int = Field(default=_C["retraining"]["cooldown_batches"], ge=0,
                                  description="Batches after a retraining decision before the next one may be made.")
    min_batch_rows: int = Field(default=_C["retraining"]["min_batch_rows"], ge=1,
                                description="Rows a batch needs to trigger, train or judge a retraining decision (smaller ones, "
                                            "e.g. partial periods, are shown but not used).")
    partial_min_share: float = Field(default=_C["retraining"]["partial_min_share"], ge=0, le=1,
                                     description="A partial first/last period drives decisions only with at least this share "
                                                 "of a full period's rows (the median full batch).")


class PerformanceSettings(Section):
    """Bootstrap intervals of the per-batch metrics."""

    bootstrap: int = Field(default=_C["performance"]["bootstrap"], ge=20, le=5000,
                           description="Bootstrap resamples for the intervals.")
    confidence: float = Field(default=_C["performance"]["confidence"], gt=0.5, lt=1, description="Interval confidence level.")
    min_class_count: int = Field(default=_C["performance"]["min_class_count"], ge=1,
                                 description="Rows of each class a labelled batch needs before its metrics are shown or used by a rule "
                                             "(binary task).")
    min_rows: int = Field(default=_C["performance"]["min_rows"], ge=2,
                          description="Regression and multiclass: labelled rows a batch needs before its metrics are shown or used.")
    estimate_tolerance: float = Field(default=_C["performance"]["estimate_tolerance"], gt=0, lt=1,
                                      description="Regression and multiclass: the label-free estimate (MAE, accuracy) is shown only when "
                                                  "it is within this share of the actual figure on the labelled test rows.")
    residual_bins: int = Field(default=_C["performance"]["residual_bins"], ge=1, le=100,
                               description="Regression: quantile bins of the prediction in the model of validation residuals.")


class LatencySettings(Section):
    """Scoring latency budget and how it is measured."""

    budget_ms_per_1000: float = Field(default=_C["latency"]["budget_ms_per_1000"], gt=0,
                                      description="Scoring budget in milliseconds per 1,000 rows (checked at p99).")
    repeats: int = Field(default=_C["latency"]["repeats"], ge=3, le=1000, description="Timed scoring calls.")
    rows: int = Field(default=_C["latency"]["rows"], ge=1, description="Rows per timed call.")


class Injection(Section):
    """One thing going wrong in a workshop scenario, from batch ``start`` (0-based) on."""

    kind: InjectionKind = Field(description="What goes wrong.")
    feature: str | None = Field(default=None, description="Column to change; None picks a key feature.")
    start: int = Field(default=0, ge=0, description="First batch affected (0-based).")
    end: int | None = Field(default=None, ge=0, description="Last batch affected (default: to the end).")
    magnitude: float = Field(default=1.0, ge=0, description="Shift in reference std, share of rows, or weight.")
    scale: float = Field(default=1.0, description="Multiplier of a unit change (value x scale + offset).")
    offset: float = Field(default=0.0, description="Offset of a unit change.")
    category: str | None = Field(default=None, description="Name of the new category (new_category).")
    value: Scalar | None = Field(default=None, description="Segment value of a categorical feature (concept_flip).")


class ScenarioSpec(Section):
    """A named, seeded sequence of production batches built from held-out rows."""

    description: str = Field(default="", description="What the scenario shows, for the report.")
    injections: list[Injection] = Field(default_factory=list, description="What goes wrong, and from which batch.")


class ProductionSource(Section):
    """Real production data: several batch files, or one file cut into batches by a time column."""

    files: list[ConfigPath] = Field(default_factory=list, description="One file per batch, in time order.")
    path: ConfigPath | None = Field(default=None, description="One file holding every batch.")
    time_column: str | None = Field(default=None, description="Orders and batches the rows of `path`.")
    time_format: TimeFormat = Field(
        default=None, description="How to read time_column when it is not a date (as dataset.time_format).")
    frequency: str = Field(default=_C["scenario_defaults"]["frequency"], description="Batch period: D, W, M (or MS, ME), Q (QS, QE), Y (A), daily, weekly, monthly, quarterly.")
    read_options: dict[str, Any] = Field(default_factory=dict,
                                         description="Extra keyword arguments for pandas' reader (e.g. sep, decimal).")


def frequency_unit(text: str) -> str | None:
    """The period unit (D, W, M, Q, Y) a user's frequency means, or None when it is not one."""
    aliases = _C["frequencies"]["aliases"]
    text = str(text).strip()
    return aliases.get(text) or aliases.get(text.upper()) or aliases.get(text.lower())


def period_alias(text: str) -> str:
    """The alias pandas' to_period accepts for a user's frequency."""
    return _C["frequencies"]["period"][_known_unit(text)]


def range_alias(text: str) -> str:
    """The alias pandas' date_range accepts for a user's frequency (periods named by their start)."""
    return _C["frequencies"]["range"][_known_unit(text)]


def _known_unit(text: str) -> str:
    """The unit of a frequency, or a ConfigError naming the fix."""
    unit = frequency_unit(text)
    if unit is None:
        from kit.errors import ConfigError

        raise ConfigError(_frequency_problem("monitoring.frequency", text)[0])
    return unit


def _frequency_problem(key: str, text: str) -> list[str]:
    """A problem line when ``text`` is not a frequency the kit understands."""
    if frequency_unit(text) is not None:
        return []
    return [f"{key}: {text!r} is not a batch frequency{did_you_mean(str(text), _C['frequencies']['aliases'])}; "
            f"use one of D, W, M, MS, ME, Q, QS, QE, Y, A, daily, weekly, monthly, quarterly, yearly"]


def _default_scenarios() -> dict[str, ScenarioSpec]:
    """The bundled workshop scenarios."""
    return {k: ScenarioSpec.model_validate(v) for k, v in _C["scenarios"].items()}


class MonitoringSection(Section):
    """Phase 4: where production batches come from, drift and alert rules, retraining, latency."""

    scenario: str = Field(default="workshop", description="Workshop scenario used when `production` is not set.")
    production: ProductionSource | None = None
    labels: bool = Field(default=True, description="Scenario batches keep their labels (False: estimate only).")
    n_batches: int = Field(default=_C["scenario_defaults"]["n_batches"], ge=2, le=200,
                           description="Scenario batches to simulate.")
    batch_size: int = Field(default=_C["scenario_defaults"]["batch_size"], ge=20, description="Rows per scenario batch.")
    frequency: str = Field(default=_C["scenario_defaults"]["frequency"],
                           description="Time between scenario batches: D, W, M (or MS, ME), Q (QS, QE), Y (A), daily, weekly, monthly, quarterly.")
    start: str = Field(default=_C["scenario_defaults"]["start"], description="Date of the first scenario batch.")
    scenarios: dict[str, ScenarioSpec] = Field(
        default_factory=_default_scenarios,
        description="Scenarios by name; yours are added to the bundled ones (a same name replaces one).")
    drift: DriftSettings = Field(default_factory=DriftSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    retraining: RetrainingSettings = Field(default_factory=RetrainingSettings)
    performance: PerformanceSettings = Field(default_factory=PerformanceSettings)
    latency: LatencySettings = Field(default_factory=LatencySettings)

    @field_validator("scenarios", mode="after")
    @classmethod
    def _keep_bundled(cls, value: dict[str, ScenarioSpec]) -> dict[str, ScenarioSpec]:
        """User scenarios add to (or replace by name) the bundled ones."""
        return {**_default_scenarios(), **value}

    def check(self, config: Any) -> list[str]:
        """Cross-field checks: the scenario exists, PSI levels are ordered, a source is usable."""
        problems = []
        if self.production is None and self.scenario not in self.scenarios:
            problems.append(
                f"scenario: {self.scenario!r} is not a scenario{did_you_mean(self.scenario, self.scenarios)}; "
                f"choose one of {', '.join(sorted(self.scenarios))}"
            )
        if self.alerts.psi_moderate >= self.alerts.psi_significant:
            problems.append("alerts.psi_moderate: must be below alerts.psi_significant")
        source = self.production
        if source is not None and not source.files and source.path is None:
            problems.append("production: give `files` (one per batch) or `path` with `time_column`")
        if source is not None and source.path is not None and not source.time_column:
            problems.append("production.time_column: required with production.path to cut the rows into batches")
        problems += _frequency_problem("frequency", self.frequency)
        if source is not None:
            problems += _frequency_problem("production.frequency", source.frequency)
        if self.production is None and getattr(config, "dataset", None) is None:
            problems.append("scenario: workshop scenarios need a `dataset` section (or set monitoring.production)")
        return problems
