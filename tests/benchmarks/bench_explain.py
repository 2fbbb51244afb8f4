"""Benchmark: the kit's exact SHAP (booster contributions) against shap.TreeExplainer's default call.

Run: .venv/bin/python tests/benchmarks/bench_explain.py [--rows 100000] [--trees 200]
Trains a 200-tree model per algorithm on the bundled Telco data (seeded), scores a seeded
resample of ``--rows`` rows, and times both paths on the same rows; checks they agree.
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from kit.explain import shapley
from kit.schema import DatasetSpec
from kit.training.data import encode_target, load_dataset
from kit.training.scoring import ScoringModel

ROOT = Path(__file__).resolve().parents[2]
TELCO = DatasetSpec(path=ROOT / "data" / "telco_churn" / "Telco-Customer-Churn.csv", target="Churn",
                    positive_class="Yes", id_columns=["customerID"])


def telco_frame() -> tuple[object, np.ndarray]:
    """All Telco rows as features (categoricals typed by the kit's loader) and the 0/1 churn label."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = load_dataset(TELCO)
    y = encode_target(frame[TELCO.target], TELCO.positive_class).y
    return frame.drop(columns=[TELCO.target, *TELCO.id_columns]), y


def build(algorithm: str, trees: int) -> tuple[ScoringModel, object]:
    """A seeded model of realistic size (XGBoost depth 6, LightGBM 63 leaves) on all Telco rows."""
    X, y = telco_frame()
    cats = {c: list(X[c].cat.categories) for c in X.columns if hasattr(X[c], "cat")}
    model = ScoringModel(algorithm, None, list(X.columns), cats)
    prepared = model.prepare(X)
    if algorithm == "xgboost":
        import xgboost as xgb

        params = {"objective": "binary:logistic", "max_depth": 6, "eta": 0.05, "seed": 0, "nthread": 2}
        model.booster = xgb.train(params, xgb.DMatrix(prepared, y, enable_categorical=True), trees)
    else:
        import lightgbm as lgb

        params = {"objective": "binary", "num_leaves": 63, "learning_rate": 0.05, "seed": 0, "verbose": -1,
                  "num_threads": 2, "min_data_in_leaf": 5}
        model.booster = lgb.train(params, lgb.Dataset(prepared, y), trees)
    return model, X


def timed(fn, *args):
    """(result, seconds) of one call."""
    started = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - started


def shap_default(booster, X):
    """shap's default call: TreeExplainer(model).shap_values(data) (a DMatrix for categorical XGBoost)."""
    import shap

    data = shapley._dmatrix(X) if shapley.booster_kind(booster) == "xgboost" else X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return shap.TreeExplainer(booster).shap_values(data)


def main() -> None:
    """Time both paths per algorithm and print a JSON summary."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--algorithms", default="xgboost,lightgbm")
    args = parser.parse_args()
    results = []
    for algorithm in args.algorithms.split(","):
        model, X = build(algorithm, args.trees)
        rows = model.prepare(X.iloc[np.random.default_rng(0).integers(0, len(X), args.rows)].reset_index(drop=True))
        _, predict_s = timed(shapley.margin, model.booster, rows)
        exact, kit_s = timed(shapley.exact_contributions, model.booster, rows)
        reference, shap_s = timed(shap_default, model.booster, rows)
        values, _ = shapley.normalise_shap_output(reference, 0.0, len(rows))
        results.append({
            "algorithm": algorithm, "rows": args.rows, "trees": args.trees,
            "kit_exact_s": round(kit_s, 2), "shap_default_s": round(shap_s, 2),
            "kit_ms_per_row": round(1000 * kit_s / args.rows, 4), "shap_ms_per_row": round(1000 * shap_s / args.rows, 4),
            "speedup": round(shap_s / kit_s, 2), "predict_s": round(predict_s, 3),
            "max_abs_diff": float(np.abs(values - exact.values.to_numpy()).max()),
            "additivity_max_err": float(np.abs(exact.margin - model.booster.predict(shapley._dmatrix(rows), output_margin=True)).max())
            if algorithm == "xgboost" else float(np.abs(exact.margin - model.booster.predict(rows, raw_score=True)).max()),
        })
        print(json.dumps(results[-1]), flush=True)


if __name__ == "__main__":
    main()
