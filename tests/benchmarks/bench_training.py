"""Benchmark: training through the kit versus the raw libraries on the same rows.

Synthetic rows follow the telco schema: real telco rows resampled with replacement (seeded),
numeric columns jittered, so category levels and value ranges are realistic. Both paths do
the same library work: XGBoost on a ``QuantileDMatrix`` and LightGBM on a ``Dataset`` with
the same native parameters, the same thread count (``thread_count``: one thread below the
content threshold, every core above), the same tree budget and early stopping, then one
prediction of the validation rows per model. The kit path adds what it does on every run,
and that extra work counts as overhead: learning the category levels, preparing frames the
way the scoring model will, wrapping boosters in ``ScoringModel``, scoring the validation
rows for model selection, choosing each candidate's threshold and picking the best.

    .venv/bin/python tests/benchmarks/bench_training.py            # 10k and 1M rows
    .venv/bin/python tests/benchmarks/bench_training.py --rows 10000 --repeats 7

Writes .bench/training.json (git-ignored) and prints a Markdown table of medians.
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
TELCO = ROOT / "data" / "telco_churn" / "Telco-Customer-Churn.csv"


def synthetic_telco(rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``rows`` telco-like rows (features, 0/1 churn): resampled real rows with jittered numbers."""
    from kit.schema import DatasetSpec
    from kit.training.data import encode_target, feature_columns, load_dataset

    spec = DatasetSpec.model_validate({"path": str(TELCO), "target": "Churn", "positive_class": "Yes", "id_columns": ["customerID"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = load_dataset(spec)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(base), rows)
    frame = base.iloc[idx].reset_index(drop=True)
    for col in ("MonthlyCharges", "TotalCharges"):
        frame[col] = frame[col] * rng.normal(1.0, 0.05, rows)
    frame["tenure"] = np.clip(frame["tenure"] + rng.integers(-2, 3, rows), 0, 72)
    return frame[feature_columns(frame, spec)], encode_target(frame["Churn"], "Yes").y


def raw_path(Xtr: pd.DataFrame, ytr: np.ndarray, Xva: pd.DataFrame, yva: np.ndarray, settings: Any, seed: int) -> None:
    """What a user would write with the libraries alone: same data structures, parameters, threads, stopping."""
    import lightgbm as lgb
    import xgboost as xgb

    from kit.training.pipeline import model_params, positive_weight, thread_count

    threads, weight = thread_count(len(Xtr)), positive_weight(ytr, settings.imbalance)
    p = {**model_params("xgboost", seed=seed), "nthread": threads, "scale_pos_weight": weight}
    dtr = xgb.QuantileDMatrix(Xtr, ytr, enable_categorical=True, nthread=threads)
    dva = xgb.QuantileDMatrix(Xva, yva, enable_categorical=True, ref=dtr, nthread=threads)
    booster = xgb.train(p, dtr, settings.max_trees, evals=[(dva, "valid")],
                        early_stopping_rounds=settings.early_stopping_rounds, verbose_eval=False)
    booster[: booster.best_iteration + 1].inplace_predict(Xva)
    p = {**model_params("lightgbm", seed=seed), "num_threads": threads, "scale_pos_weight": weight}
    ltr = lgb.Dataset(Xtr, ytr)
    lva = lgb.Dataset(Xva, yva, reference=ltr)
    model = lgb.train(p, ltr, settings.max_trees, valid_sets=[lva],
                      callbacks=[lgb.early_stopping(settings.early_stopping_rounds, verbose=False)])
    model.predict(Xva, num_threads=threads)


def kit_path(Xtr: pd.DataFrame, ytr: np.ndarray, Xva: pd.DataFrame, yva: np.ndarray, settings: Any, seed: int) -> None:
    """The kit's public entry points for the same two models, with threshold choice and selection."""
    from kit.training.pipeline import select_best, set_thresholds, train_candidates

    candidates = train_candidates(Xtr, ytr, Xva, yva, settings, seed, baselines=False)
    set_thresholds(candidates, yva, None)
    select_best(candidates, yva, settings.selection_metric)


def timed(fn: Callable[..., None], *args: Any) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process incl. threads) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - w0, time.process_time() - c0


def bench(rows: int, repeats: int, seed: int = 0) -> dict[str, float]:
    """Median kit and raw timings on ``rows`` rows (80% train, 20% valid), the two paths interleaved."""
    from kit.training.config import TrainingSection
    from kit.training.pipeline import thread_count

    X, y = synthetic_telco(rows, seed)
    cut = int(rows * 0.8)
    args = (X.iloc[:cut], y[:cut], X.iloc[cut:], y[cut:])
    settings = TrainingSection(max_trees=100, early_stopping_rounds=20, imbalance="none")
    raw_path(*args, settings, seed)  # warm-up: imports and first-call costs out of the measurement
    kit_path(*args, settings, seed)
    raw, kit = [], []
    for _ in range(repeats):  # interleaved so background load hits both alike
        raw.append(timed(raw_path, *args, settings, seed))
        kit.append(timed(kit_path, *args, settings, seed))
    (raw_w, raw_c), (kit_w, kit_c) = np.median(raw, axis=0), np.median(kit, axis=0)
    ratios = np.array(kit)[:, 0] / np.array(raw)[:, 0]
    return {"rows": rows, "threads": thread_count(cut), "repeats": repeats,
            "raw_seconds": round(raw_w, 3), "kit_seconds": round(kit_w, 3),
            "overhead_pct": round(100 * (kit_w / raw_w - 1), 1),
            "paired_overhead_pct": round(100 * (float(np.median(ratios)) - 1), 1),
            "raw_cpu_seconds": round(raw_c, 3), "kit_cpu_seconds": round(kit_c, 3),
            "cpu_overhead_pct": round(100 * (kit_c / raw_c - 1), 1),
            "raw_wall_all": [round(r[0], 3) for r in raw], "kit_wall_all": [round(k[0], 3) for k in kit]}


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=None, help="default: 7 up to 100k rows, else 3")
    args = parser.parse_args()
    results = [bench(n, repeats=args.repeats or (7 if n <= 100_000 else 3)) for n in args.rows]
    out = ROOT / ".bench" / "training.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print("| rows | threads | raw wall (s) | kit wall (s) | wall overhead | paired | raw CPU (s) | kit CPU (s) | CPU overhead |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['rows']:,} | {r['threads']} | {r['raw_seconds']:.2f} | {r['kit_seconds']:.2f} | {r['overhead_pct']:+.1f}% "
              f"| {r['paired_overhead_pct']:+.1f}% | {r['raw_cpu_seconds']:.2f} | {r['kit_cpu_seconds']:.2f} "
              f"| {r['cpu_overhead_pct']:+.1f}% |")


if __name__ == "__main__":
    main()
