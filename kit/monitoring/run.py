"""The monitoring phase step by step: what the notebook calls, one function per step.

I/O (artifacts, files, the registry) lives here; the statistics live in ``drift``,
``performance``, ``quality``, ``alerts`` and ``retraining``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit.errors import ArtifactError, DataError
from kit.monitoring import alerts as rules
from kit.monitoring.config import MonitoringSection
from kit.monitoring.drift import ReferenceProfile, drift_table, profile_numeric, numeric_drift, profile_reference
from kit.monitoring.performance import expected_performance, measured_performance
from kit.monitoring.quality import missing_rise, nullable_columns, schema_issues
from kit.monitoring.scenarios import Batch, Scenario, build_scenario

TARGET = "__target__"


@dataclass
class Setup:
    """Everything monitoring compares against: champion, reference rows and their profile."""

    model: Any
    champion: dict[str, Any]
    test_metrics: dict[str, float]
    reference: pd.DataFrame
    held_out: pd.DataFrame
    profile: ReferenceProfile
    ranked: list[str]
    key_features: list[str]
    reference_scores: np.ndarray = field(repr=False)
    validation: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    contract: Any = None
    training: Any = None
    costs: dict[str, float] | None = None
    registry: dict[str, Any] = field(default_factory=dict)
    sensitive: list[str] = field(default_factory=list)
    target_name: str = "target"
    time_column: str | None = None

    @property
    def nullable(self) -> list[str]:
        """Features the contract lets hold missing values."""
        return nullable_columns(self.contract)


@dataclass
class Monitoring:
    """The result of monitoring a sequence of batches."""

    batches: pd.DataFrame
    drift: dict[str, pd.DataFrame]
    score_drift: pd.DataFrame
    quality: pd.DataFrame
    measured: pd.DataFrame
    expected: pd.DataFrame
    alerts: pd.DataFrame
    thresholds: dict[str, float]


def test_metrics(champion: dict[str, Any]) -> dict[str, float]:
    """The champion's test-set figures as {metric: value}, whatever nesting the artifact used."""
    metrics = champion.get("metrics", {}) or {}
    metrics = metrics.get("test", metrics) if isinstance(metrics.get("test"), dict) else metrics
    return {k: float(v["value"] if isinstance(v, dict) else v) for k, v in metrics.items()
            if isinstance(v, (int, float)) or (isinstance(v, dict) and isinstance(v.get("value"), (int, float)))}


def rank_features(model: Any, explain: dict[str, Any] | None) -> tuple[list[str], str]:
    """Features by importance: mean |SHAP| from the explain artifact, else the booster's gain."""
    table = (explain or {}).get("global_importance")
    if table:
        ranked = [row["feature"] for row in sorted(table, key=lambda r: r.get("rank", 0)) if row["feature"] in model.features]
        return ranked + [f for f in model.features if f not in ranked], "mean |SHAP| (explainability phase)"
    gain = model.gain()  # by original feature name (the booster may know safe renamed ones)
    ranked = sorted(model.features, key=lambda f: -gain[f])
    return ranked, "total gain of the champion's trees"


def load_setup(ctx: Any) -> Setup:
    """Load the champion, its data contract, the training split (reference = train rows); profile the reference once."""
    from kit.training.contract import CONTRACT_FILE, load_contract
    from kit.training.data import load_split, trained_spec
    from kit.training.scoring import ScoringModel

    training = ctx.read("training")
    champion = training.get("champion") or {}
    if not champion.get("model_dir"):
        raise ArtifactError("training artifact: no champion.model_dir; re-run the training phase so a champion is saved")
    model = ScoringModel.load(Path(ctx.run_dir) / champion["model_dir"])
    X_train, y_train = load_split(ctx, part="train")
    X_valid, y_valid = load_split(ctx, part="valid")
    X_test, y_test = load_split(ctx, part="test")
    contract = load_contract(Path(ctx.run_dir) / (training.get("contract") or {}).get("path", f"artifacts/{CONTRACT_FILE}"))
    reference = X_train.assign(**{TARGET: y_train})
    held_out = X_test.assign(**{TARGET: y_test})
    settings: MonitoringSection = ctx.config.monitoring
    profile = profile_reference(reference, model.features, settings.drift.bins, settings.drift.epsilon, settings.drift.min_rows_per_bin)
    ranked, _ = rank_features(model, ctx.read("explain", required=False))
    dataset = trained_spec(ctx.run_dir, ctx.config)
    return Setup(
        model=model, champion=champion, test_metrics=test_metrics(champion), reference=reference,
        held_out=held_out, profile=profile, ranked=ranked, key_features=ranked[: settings.alerts.top_k],
        reference_scores=model.predict_proba(reference), validation=X_valid.assign(**{TARGET: y_valid}),
        contract=contract, training=ctx.config.training, costs=training.get("costs"),
        registry={"name": champion.get("model_name") or champion.get("name"), "version": champion.get("version"),
                  "uri": champion.get("tracking_uri"), "experiment": (training.get("registry") or {}).get("experiment")},
        sensitive=list(dataset.sensitive), target_name=dataset.target, time_column=dataset.time_column,
    )


def setup_summary(setup: Setup) -> pd.DataFrame:
    """What monitoring compares against, in one small table."""
    m = setup.test_metrics
    return pd.DataFrame({"value": {
        "champion": f"{setup.registry.get('name') or '?'} v{setup.registry.get('version') or '?'} ({setup.model.algorithm})",
        "threshold": round(float(setup.model.threshold), 4),
        "test AUC": round(m.get("roc_auc", float("nan")), 4),
        "test recall": round(m.get("recall", float("nan")), 4),
        "reference rows": len(setup.reference),
        "held-out rows": len(setup.held_out),
        "key features (top-k)": ", ".join(setup.key_features),
    }})


def scenario_batches(setup: Setup, settings: MonitoringSection, seed: int, time_column: str | None = None) -> Scenario:
    """The configured workshop scenario built from the held-out rows (seeded)."""
    spec = settings.scenarios[settings.scenario]
    return build_scenario(
        settings.scenario, spec, setup.held_out, setup.reference, TARGET, setup.ranked, setup.profile.kinds(),
        n_batches=settings.n_batches, batch_size=settings.batch_size, seed=seed, start=settings.start,
        frequency=settings.frequency, labelled=settings.labels, time_column=time_column,
    )


def file_batches(settings: MonitoringSection, target: str, positive_class: Any) -> list[Batch]:
    """Real production batches: one file each, or one file cut by its time column and frequency."""
    from kit.data import read_table

    source = settings.production
    if source.files:
        frames = [(p.stem, read_table(p, source.read_options)) for p in source.files]
    else:
        frame = read_table(source.path, source.read_options)
        if source.time_column not in frame.columns:
            raise DataError(f"monitoring.production.time_column: {source.time_column!r} not in {source.path.name}")
        stamp = pd.to_datetime(frame[source.time_column], errors="coerce")
        periods = stamp.dt.to_period(source.frequency).astype(str)
        frames = [(str(k), g.drop(columns=[source.time_column])) for k, g in frame.groupby(periods, sort=True)]
    return [_labelled(name, f, target, positive_class) for name, f in frames]


def _labelled(name: str, frame: pd.DataFrame, target: str, positive_class: Any) -> Batch:
    """A batch with labels encoded 0/1 like training's, when every row has one (else it counts as unlabelled)."""
    if target not in frame.columns or frame[target].isna().any():
        return Batch(name, frame.drop(columns=[target], errors="ignore"), labelled=False)
    from kit.training.data import labels_to_binary

    y = labels_to_binary(frame[target], positive_class)
    return Batch(name, frame.drop(columns=[target]).assign(**{TARGET: y}), labelled=True)


def production_batches(ctx: Any, setup: Setup) -> tuple[list[Batch], pd.DataFrame | None]:
    """Batches from real files when configured, else from the named scenario (with its injection log)."""
    settings: MonitoringSection = ctx.config.monitoring
    if settings.production is not None:
        return file_batches(settings, setup.target_name, setup.model.positive_class), None
    scenario = scenario_batches(setup, settings, ctx.config.seed, setup.time_column)
    return scenario.batches, scenario.injections


def monitor_batch(setup: Setup, batch: Batch, settings: MonitoringSection, seed: int, score_profile: Any) -> dict[str, Any]:
    """Quality, drift, scores, performance and alerts of one batch."""
    usable, issues = schema_issues(setup.profile, setup.contract, batch.frame, settings.alerts)
    drift = drift_table(setup.profile, batch.frame, usable, settings.drift.fdr_alpha) if usable else pd.DataFrame()
    issues += missing_rise(setup.profile, drift, setup.nullable, settings.alerts)
    out: dict[str, Any] = {"drift": drift, "issues": issues, "measured": None, "expected": None, "score": None}
    if len(usable) == len(setup.profile.features) and not batch.frame.empty:
        scores = setup.model.predict_proba(batch.frame)
        out["score"] = numeric_drift(score_profile, scores, setup.profile.epsilon) | {
            "mean_score": float(scores.mean()), "reference_mean_score": score_profile.mean}
        out["expected"] = expected_performance(scores, setup.model.threshold)
        y = batch.frame[TARGET].to_numpy() if batch.labelled and TARGET in batch.frame else None
        if y is not None and len(np.unique(y)) == 2:
            p = settings.performance
            out["measured"] = measured_performance(y, scores, setup.model.threshold, p.bootstrap, p.confidence, seed)
    return out


def monitor(setup: Setup, batches: list[Batch], settings: MonitoringSection, seed: int = 0) -> Monitoring:
    """Monitor every batch against the reference; a bad batch becomes alerts, never a stop."""
    score_profile = profile_numeric("score", setup.reference_scores, settings.drift.bins)
    thresholds = rules.performance_thresholds(setup.test_metrics, settings.alerts)
    results = {b.name: monitor_batch(setup, b, settings, seed + i, score_profile) for i, b in enumerate(batches)}
    log = [
        a for name, r in results.items() for a in (
            rules.quality_alerts(name, r["issues"], settings.alerts)
            + rules.drift_alerts(name, r["drift"], setup.key_features, settings.alerts)
            + rules.prediction_alerts(name, r["score"], settings.alerts)
            + rules.performance_alerts(name, r["measured"], thresholds, settings.alerts))
    ]
    summary = pd.DataFrame({
        "batch": [b.name for b in batches], "rows": [len(b.frame) for b in batches],
        "labelled": [b.labelled for b in batches],
        "scored": [results[b.name]["score"] is not None for b in batches],
        "quality_issues": [len(results[b.name]["issues"]) for b in batches],
    })
    return Monitoring(
        batches=summary,
        drift={n: r["drift"] for n, r in results.items()},
        score_drift=_frame({n: r["score"] for n, r in results.items() if r["score"]}),
        quality=pd.DataFrame([{"batch": n, **i} for n, r in results.items() for i in r["issues"]],
                             columns=["batch", "check", "feature", "value", "threshold", "detail"]),
        measured=_frame({n: r["measured"] for n, r in results.items() if r["measured"]}),
        expected=_frame({n: r["expected"] for n, r in results.items() if r["expected"]}),
        alerts=rules.alert_log(log),
        thresholds=thresholds,
    )


def _frame(rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Batch -> values as a frame indexed by batch."""
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "batch"
    return frame


def psi_matrix(result: Monitoring) -> pd.DataFrame:
    """PSI per feature (rows) and batch (columns)."""
    return pd.DataFrame({b: d["psi"] for b, d in result.drift.items() if not d.empty})


def worst(result: Monitoring) -> tuple[str | None, str | None, float]:
    """The batch and feature with the highest PSI, and that PSI."""
    matrix = psi_matrix(result)
    if matrix.empty or matrix.isna().all().all():
        return None, None, float("nan")
    stacked = matrix.stack()
    feature, batch = stacked.idxmax()
    return str(batch), str(feature), float(stacked.max())


def measure_latency(model: Any, frame: pd.DataFrame, rows: int = 1000, repeats: int = 20, budget_ms: float = 100.0) -> dict[str, float]:
    """Scoring time per 1,000 rows over repeated calls: p50, p95, p99 against the budget."""
    sample = frame.iloc[np.arange(rows) % len(frame)]
    model.predict_proba(sample)  # warm-up: first call pays one-off costs
    timings = np.empty(repeats)
    for i in range(repeats):  # timing repeats, not a loop over rows
        start = time.perf_counter()
        model.predict_proba(sample)
        timings[i] = (time.perf_counter() - start) * 1000 * 1000 / rows
    p50, p95, p99 = np.percentile(timings, [50, 95, 99])
    return {"rows": rows, "repeats": repeats, "p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99),
            "budget_ms": float(budget_ms), "within_budget": bool(p99 <= budget_ms)}


def _has_quality_failure(result: Monitoring, batch: str) -> bool:
    """Whether a batch had a critical data-quality alert (such batches are never trained on)."""
    log = result.alerts
    return bool(((log["batch"] == batch) & (log["rule"] == "data_quality") & (log["severity"] == "critical")).any())


def retrain(setup: Setup, batches: list[Batch], result: Monitoring, settings: MonitoringSection, seed: int = 0) -> dict[str, Any]:
    """Trigger check; challenger through the training pipeline on reference + recent labelled batches; comparison; decision."""
    from kit.monitoring.retraining import decide, extend_split, fairness_gap, should_retrain, train_challenger
    from kit.training.metrics import compute_metrics, metric_name

    cfg = settings.retraining
    names = [b.name for b in batches]
    triggered, why = should_retrain(result.alerts, cfg.trigger_rules, names[-cfg.recent_batches:])
    out: dict[str, Any] = {"triggered": triggered, "decision": "none", "reason": why, "challenger": None}
    if not triggered or not cfg.enabled:
        out["reason"] = why if cfg.enabled else f"{why}; retraining is disabled in the config"
        return out
    labelled = [b for b in batches if b.labelled and TARGET in b.frame and b.name in result.measured.index]
    if len(labelled) <= cfg.evaluation_batches:
        return out | {"decision": "keep", "reason": f"{why}, but too few labelled batches to train and compare a challenger; keep the champion"}
    evaluation = labelled[-cfg.evaluation_batches:]
    recent = labelled[:-cfg.evaluation_batches][-cfg.recent_batches:]
    usable = [b for b in recent if not _has_quality_failure(result, b.name)]
    if not usable:
        return out | {"decision": "keep", "reason": f"{why}, but every recent labelled batch failed data quality; fix the data, keep the champion"}
    new = pd.concat([b.frame for b in usable], ignore_index=True)
    parts = extend_split(setup.reference.drop(columns=[TARGET]), setup.reference[TARGET].to_numpy(),
                         setup.validation.drop(columns=[TARGET]), setup.validation[TARGET].to_numpy(),
                         new.drop(columns=[TARGET]), new[TARGET].to_numpy(), setup.training.valid_size, seed)
    meta = {"target": setup.model.target, "positive_class": setup.model.positive_class, "negative_class": setup.model.negative_class}
    challenger, candidates = train_challenger(*parts, setup.model.features, setup.training, setup.costs, seed, meta)
    window = pd.concat([b.frame for b in evaluation], ignore_index=True)
    y = window[TARGET].to_numpy()
    metric = metric_name(cfg.metric)
    models = {"champion": setup.model, "challenger": challenger}
    scores = {k: m.predict_proba(window) for k, m in models.items()}
    metrics = {k: compute_metrics(y, scores[k], m.threshold) for k, m in models.items()}
    gaps = {k: fairness_gap(y, (scores[k] >= m.threshold).astype(int), window, setup.sensitive) for k, m in models.items()}
    verdict = decide(metrics["champion"][metric], metrics["challenger"][metric], cfg.promote_margin,
                     gaps["champion"], gaps["challenger"], cfg.fairness_tolerance, metric)
    comparison = pd.DataFrame(metrics).loc[["roc_auc", "pr_auc", "precision", "recall", "f1"]]
    comparison.loc["equalized_odds_difference"] = [gaps["champion"], gaps["challenger"]]
    comparison.loc["threshold"] = [setup.model.threshold, challenger.threshold]
    return out | {
        "decision": verdict["decision"], "reason": f"{why}. {verdict['reason']}", "metric": metric,
        "gain": verdict["gain"], "fair": verdict["fair"], "better": verdict["better"], "comparison": comparison,
        "candidates": candidates.reset_index(names="candidate"), "algorithm": challenger.algorithm,
        "trained_on": {"reference_rows": len(setup.reference), "validation_rows": len(setup.validation),
                       "batches": [b.name for b in usable], "fit_rows": len(parts[1]), "valid_rows": len(parts[3]),
                       "excluded_for_quality": [b.name for b in recent if b not in usable]},
        "evaluated_on": [b.name for b in evaluation], "challenger": challenger,
    }


def apply_decision(ctx: Any, setup: Setup, outcome: dict[str, Any]) -> dict[str, Any]:
    """Save the challenger; register it as a version tagged with the decision; on promote, move the champion alias."""
    challenger = outcome.get("challenger")
    if challenger is None:
        return {"registry": "no challenger trained"}
    model_dir = challenger.save(Path(ctx.run_dir) / "artifacts" / "challenger")
    record: dict[str, Any] = {"model_dir": str(model_dir.relative_to(ctx.run_dir)), "registry": "not registered (training did not register a champion)"}
    name = setup.registry.get("name")
    if not name or not setup.registry.get("version"):
        return record
    from kit.training.registry import Registry

    registry = Registry(setup.registry.get("uri"))
    window = outcome["comparison"]["challenger"].to_dict()
    run_id = registry.log_candidate(
        setup.registry.get("experiment") or f"kit/{ctx.config.name or 'run'}", "monitoring-challenger",
        params={**challenger.info.get("params", {}), "threshold": challenger.threshold, "retrained_on": outcome["trained_on"]},
        metrics={f"window_{k}": v for k, v in window.items()},
        tags={"source": "monitoring", "kind": "model", "selected": "True"}, model_dir=model_dir)
    tags = {"source": "monitoring retraining", "monitoring.decision": outcome["decision"],
            "monitoring.reason": outcome["reason"][:4900], "monitoring.evaluated_on": ",".join(outcome["evaluated_on"]),
            "gate.fairness": "passed" if outcome["fair"] else "failed"}
    version = registry.register(name, run_id, tags)
    previous = registry.champion_version(name)
    record |= {"version": version, "previous": previous}
    if outcome["decision"] != "promote":
        registry.set_version_tag(name, version, "status", "rejected")
        return record | {"registry": f"challenger registered as version {version} of {name} (rejected); champion stays version {previous}"}
    if needs_signoff(ctx):
        registry.set_version_tag(name, version, "status", "awaiting sign-off")
        outcome["decision"] = "promote after sign-off"
        outcome["reason"] += ("; the stakes require a person to approve the new version before the champion "
                              "alias moves (Registry.record_approval, then Registry.set_champion)")
        return record | {"registry": f"challenger registered as version {version} of {name}, awaiting human "
                                     f"sign-off; champion stays version {previous}"}
    registry.set_champion(name, version, outcome["reason"][:500])
    return record | {"registry": f"version {version} is now the champion of {name} (was {previous}); "
                                 "roll back with kit.monitoring.run.rollback(ctx)"}


def needs_signoff(ctx: Any) -> bool:
    """Whether promotions need a human sign-off: the training phase's rule for these stakes."""
    from kit.training.gates import approval_required

    return approval_required(ctx.config.training.require_approval, (ctx.read("training") or {}).get("stakes"))


def rollback(ctx: Any, name: str | None = None) -> str:
    """Put the previous champion back (one call); return the version now serving."""
    from kit.training.registry import Registry

    champion = ctx.read("training").get("champion") or {}
    uri = champion.get("tracking_uri") or getattr(ctx.config.training, "tracking_uri", None)
    return Registry(uri).rollback(name or champion.get("model_name") or champion.get("name"))


def build_artifact(
    setup: Setup, result: Monitoring, outcome: dict[str, Any], applied: dict[str, Any],
    latency: dict[str, float], injections: pd.DataFrame | None, settings: MonitoringSection,
) -> dict[str, Any]:
    """The `monitoring` artifact: batches, drift, performance, alerts, retraining, latency, headline."""
    log = pd.concat([result.alerts, rules.alert_log(rules.latency_alerts(latency, settings.alerts))], ignore_index=True)
    counted = rules.counted(log)
    batch, feature, value = worst(result)
    status = "fail" if (counted["severity"] == "critical").any() else "warn" if len(counted) else "ok"
    drift = {f: {b: d.loc[f].drop(labels=["kind"]).to_dict() for b, d in result.drift.items() if f in d.index}
             for f in setup.profile.features}
    return {
        "source": settings.production.model_dump(mode="json") if settings.production else {"scenario": settings.scenario},
        "injections": injections,
        "key_features": setup.key_features,
        "batches": result.batches,
        "drift": drift,
        "prediction_drift": result.score_drift.reset_index(),
        "data_quality": result.quality,
        "performance": {"champion_test": setup.test_metrics, "thresholds": result.thresholds,
                        "measured": result.measured.reset_index(), "expected": result.expected.reset_index(),
                        "expected_method": "confidence-based: expected confusion counts from calibrated probabilities; assumes P(y|x) unchanged"},
        "alerts": log,
        "retraining": {k: (v.reset_index().to_dict(orient="records") if isinstance(v, pd.DataFrame) else v)
                       for k, v in outcome.items() if k != "challenger"} | applied,
        "latency": latency,
        "headline": {
            "Alerts": f"{len(counted)} ({int((counted['severity'] == 'critical').sum())} critical)",
            "Worst feature": f"{feature} (PSI {value:.2f}, {batch})" if feature else "none",
            "Decision": f"{outcome['decision']}" + (" (retraining triggered)" if outcome["triggered"] else ""),
        },
        "headline_status": status,
    }


def latency_check(setup: Setup, settings: MonitoringSection) -> dict[str, float]:
    """Champion scoring latency on reference rows against the configured budget."""
    cfg = settings.latency
    return measure_latency(setup.model, setup.reference, cfg.rows, cfg.repeats, cfg.budget_ms_per_1000)
