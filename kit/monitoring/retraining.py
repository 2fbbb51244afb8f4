"""Retraining: when to train a challenger, how, and whether it may replace the champion.

The challenger is the champion's own recipe refitted: the same algorithm, hyperparameters,
number of boosting rounds, feature preparation (training category levels) and decision
threshold, on the reference rows plus the recent labelled batches (batches with a
data-quality failure are left out: retraining on broken data would learn the breakage).
Champion and challenger are compared on the latest labelled window, which the challenger
never trained on. The challenger is promoted only if it beats the champion by the margin
and passes the fairness gate: its equalized-odds difference (the largest gap in true- or
false-positive rate between groups of a sensitive column, fairlearn) on the window is at
most the champion's plus a tolerance. Equalized odds rather than selection rates, because
groups with different base rates should get different selection rates.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pandas as pd

from kit.training.scoring import ScoringModel


def should_retrain(alerts: pd.DataFrame, trigger_rules: list[str], recent: list[str]) -> tuple[bool, str]:
    """Whether a trigger rule fired (warning or critical) in the recent batches, and which."""
    fired = alerts[alerts["rule"].isin(trigger_rules) & alerts["batch"].isin(recent) & (alerts["severity"] != "info")]
    if fired.empty:
        return False, f"no retraining rule ({', '.join(trigger_rules)}) fired in the recent batches"
    rules = ", ".join(f"{r} x{n}" for r, n in fired["rule"].value_counts().sort_index().items())
    return True, f"retraining rules fired in the recent batches: {rules}"


def decide(
    champion_score: float, challenger_score: float, margin: float,
    champion_gap: float, challenger_gap: float, tolerance: float, metric: str = "roc_auc",
) -> dict[str, Any]:
    """Promote the challenger only if better by the margin and passing the fairness gate; say why."""
    gain = challenger_score - champion_score
    fair_limit = champion_gap + tolerance if np.isfinite(champion_gap) else np.inf
    fair = not np.isfinite(challenger_gap) or challenger_gap <= fair_limit + 1e-12
    better = bool(np.isfinite(gain) and gain >= margin)
    if better and fair:
        decision, reason = "promote", f"challenger {metric} {challenger_score:.3f} beats champion {champion_score:.3f} by {gain:+.3f} (margin {margin:g}) and passes the fairness gate"
    elif not better:
        decision, reason = "keep", f"challenger {metric} {challenger_score:.3f} vs champion {champion_score:.3f} ({gain:+.3f}) is not better by the margin {margin:g}"
    else:
        decision, reason = "keep", f"challenger is better ({gain:+.3f}) but fails the fairness gate: equalized-odds difference {challenger_gap:.3f} > champion's {champion_gap:.3f} + {tolerance:g}"
    return {"decision": decision, "reason": reason, "gain": gain, "fair": fair, "better": better}


def fairness_gap(y: np.ndarray, predicted: np.ndarray, frame: pd.DataFrame, sensitive: list[str]) -> float:
    """Largest equalized-odds difference (fairlearn) over the sensitive columns; NaN without any."""
    from fairlearn.metrics import equalized_odds_difference

    columns = [c for c in sensitive if c in frame.columns]
    if not columns or len(predicted) == 0:
        return float("nan")
    return float(max(
        equalized_odds_difference(y, predicted, sensitive_features=frame[c].astype(str)) for c in columns
    ))


def _xgboost_refit(model: ScoringModel, X: pd.DataFrame, y: np.ndarray, seed: int) -> Any:
    """Train a new XGBoost booster with the champion's parameters and number of rounds."""
    import xgboost as xgb

    config = json.loads(model.booster.save_config())
    learner = config["learner"]
    params = dict(learner["gradient_booster"].get("tree_train_param", {}))
    params |= {"objective": learner["objective"]["name"], "seed": seed, "nthread": 1,
               "base_score": None}
    params = {k: v for k, v in params.items() if v is not None}
    data = xgb.DMatrix(X, label=y, enable_categorical=True)
    return xgb.train(params, data, num_boost_round=model.booster.num_boosted_rounds())


def _lightgbm_refit(model: ScoringModel, X: pd.DataFrame, y: np.ndarray, seed: int) -> Any:
    """Train a new LightGBM booster with the champion's parameters and number of rounds."""
    import lightgbm as lgb

    params = {k: v for k, v in model.booster.params.items() if k not in ("num_iterations", "early_stopping_round", "metric")}
    params |= {"seed": seed, "num_threads": 1, "verbose": -1}
    rounds = max(1, model.booster.current_iteration())
    return lgb.train(params, lgb.Dataset(X, label=y), num_boost_round=rounds)


def refit(model: ScoringModel, frame: pd.DataFrame, y: np.ndarray, seed: int) -> ScoringModel:
    """A challenger: the champion's recipe (algorithm, parameters, rounds, preparation, threshold) on new rows."""
    X = model.prepare(frame)
    train = _xgboost_refit if model.algorithm == "xgboost" else _lightgbm_refit
    booster = train(model, X, np.asarray(y, dtype=np.float64), seed)
    info = {**model.info, "retrained_on_rows": int(len(frame)), "retrained_from": "champion recipe"}
    return dataclasses.replace(model, booster=booster, info=info)
