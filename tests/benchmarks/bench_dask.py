"""Benchmark the Dask engine on a generated Parquet dataset larger than one worker's memory limit.

Run: PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_dask.py --rows 1000000 10000000 [--workers 2]
     [--memory-limit 1GiB] [--data /tmp/kit-bench] (not part of `make test`; the data is generated once per size).

Steps on a LocalCluster (worker processes, ``--memory-limit`` each), per size: the reference profile and the
drift of a shifted batch (kit.compute.drift), xgboost.dask training with early stopping (kit.compute.train), and
exact SHAP global importance over the batch (per partition). The same steps on the local engine (pandas in one
process, kit.monitoring.drift / kit.training.pipeline / kit.explain.shapley) run in a fresh process when
``--local-max-rows`` allows. Prints seconds and peak resident memory (per worker; the local process) as Markdown.
"""
from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

N_NUMERIC, N_CATEGORICAL = 27, 3
ROWS_PER_FILE = 500_000
SETTINGS = SimpleNamespace(max_trees=60, early_stopping_rounds=10)


def _chunk(rows: int, seed: int, shift: float) -> pd.DataFrame:
    """One file's rows: numeric and categorical features, a binary target from a logistic model."""
    rng = np.random.default_rng(seed)
    data = {f"x{i:02d}": rng.normal(shift * (i % 3 == 0), 1 + i / 10, rows) for i in range(N_NUMERIC)}
    levels = [np.array([f"c{j}_{k}" for k in range(4 + 4 * j)]) for j in range(N_CATEGORICAL)]
    for j, names in enumerate(levels):
        data[f"cat{j}"] = names[rng.integers(0, names.size, rows)]
    frame = pd.DataFrame(data)
    logit = 0.8 * frame["x00"] - 0.5 * frame["x01"] + 0.3 * frame["x02"] * frame["x03"] + (frame["cat0"] == "c0_1") - 1.0
    frame["y"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return frame


def generate(folder: Path, rows: int, shift: float = 0.0, seed: int = 0) -> Path:
    """Write ``rows`` rows as Parquet files of ROWS_PER_FILE rows (once; reused when complete)."""
    done = folder / "_COMPLETE"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, rows, ROWS_PER_FILE)):  # one file at a time: never all rows in memory
        _chunk(min(ROWS_PER_FILE, rows - start), seed * 100_003 + i, shift).to_parquet(folder / f"part-{i:04d}.parquet")
    done.write_text(str(rows))
    return folder


def in_memory_bytes(folder: Path) -> int:
    """The dataset's size as a pandas frame (measured on the first file, scaled)."""
    files = sorted(folder.glob("*.parquet"))
    first = pd.read_parquet(files[0])
    rows = sum(pd.read_parquet(f, columns=["y"]).shape[0] for f in files)
    return int(first.memory_usage(deep=True).sum() / len(first) * rows)


def _peak_rss() -> int:
    """Peak resident memory of this process in bytes (Linux: ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_dask(train: Path, batch: Path, workers: int, memory_limit: str, steps: set[str]) -> dict[str, float]:
    """Profile + drift, training and SHAP on a LocalCluster; seconds per step and peak RSS per worker."""
    from distributed import Client, LocalCluster

    from kit.compute.data import read_lazy
    from kit.compute.drift import drift_table_dask, profile_reference_dask
    from kit.compute.train import global_importance_dask, train_dask

    out: dict[str, float] = {}
    with LocalCluster(n_workers=workers, threads_per_worker=1, memory_limit=memory_limit, processes=True,
                      dashboard_address=":0", silence_logs=40) as cluster, Client(cluster) as client:
        ref, cur = read_lazy(train), read_lazy(batch)
        features = [c for c in ref.columns if c != "y"]
        out.update(drift_s=float("nan"), train_s=float("nan"), trees=float("nan"), shap_s=float("nan"), ks_bound_max=float("nan"))
        if "drift" in steps:
            t = time.perf_counter()
            profile = profile_reference_dask(ref, features, client=client)
            table = drift_table_dask(profile, cur, client=client)
            out["drift_s"] = time.perf_counter() - t
            out["ks_bound_max"] = float(table["ks_bound"].max())
        if "train" not in steps:
            out["peak_worker_bytes"] = max(client.run(_peak_rss).values())
            return out
        n = ref.npartitions
        valid = max(1, n // 5)
        t = time.perf_counter()
        model = train_dask(client, "xgboost", ref.partitions[valid:], "y", ref.partitions[:valid], "y",
                           SETTINGS, seed=0, pos_weight=1.0)
        out["train_s"] = time.perf_counter() - t
        out["trees"] = model.info["trees"]
        t = time.perf_counter()
        global_importance_dask(model, cur[features], client)
        out["shap_s"] = time.perf_counter() - t
        out["peak_worker_bytes"] = max(client.run(_peak_rss).values())
    return out


def _local(train: Path, batch: Path, queue: Any) -> None:
    """The same steps on the local engine, in this (fresh) process."""
    from kit.explain.shapley import exact_contributions, global_importance
    from kit.monitoring.drift import drift_table, profile_reference
    from kit.training.pipeline import fit_xgboost, infer_categories, model_params
    from kit.training.scoring import prepare_features

    ref = pd.read_parquet(train)
    cur = pd.read_parquet(batch)
    features = [c for c in ref.columns if c != "y"]
    out: dict[str, float] = {}
    t = time.perf_counter()
    drift_table(profile_reference(ref, features), cur)
    out["drift_s"] = time.perf_counter() - t
    files = len(list(train.glob("*.parquet")))
    cut = max(1, files // 5) * ROWS_PER_FILE
    t = time.perf_counter()
    categories = infer_categories(ref[features])
    X = prepare_features(ref, features, categories)
    booster = fit_xgboost(X.iloc[cut:], ref["y"].to_numpy()[cut:], X.iloc[:cut], ref["y"].to_numpy()[:cut],
                          model_params("xgboost", None, 0), SETTINGS.max_trees, SETTINGS.early_stopping_rounds)
    out["train_s"] = time.perf_counter() - t
    t = time.perf_counter()
    global_importance(exact_contributions(booster, prepare_features(cur, features, categories)))
    out["shap_s"] = time.perf_counter() - t
    out["peak_worker_bytes"] = _peak_rss()
    queue.put(out)


def run_local(train: Path, batch: Path) -> dict[str, float]:
    """The local engine's figures, measured in a fresh process (so its peak memory is its own)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_local, args=(train, batch, queue))
    process.start()
    process.join()
    return queue.get() if process.exitcode == 0 else {"failed": process.exitcode}



def main() -> int:
    """Generate, run, print a Markdown table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="1GiB")
    parser.add_argument("--local-max-rows", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/kit-bench"))
    parser.add_argument("--steps", default="drift,train", help="drift (profile and batch drift), train (training and SHAP)")
    args = parser.parse_args()
    gib = 2**30
    print(f"| rows | in-memory size | engine | drift s | train s | SHAP s | peak RSS per worker | KS bound |")
    print("|---|---|---|---|---|---|---|---|")
    for rows in args.rows:
        train = generate(args.data / f"train-{rows}", rows)
        batch = generate(args.data / f"batch-{rows}", max(rows // 10, ROWS_PER_FILE // 5), shift=0.2, seed=1)
        size = in_memory_bytes(train)
        d = run_dask(train, batch, args.workers, args.memory_limit, set(args.steps.split(",")))
        print(f"| {rows:,} | {size / gib:.2f} GiB | dask {args.workers} x {args.memory_limit} | {d['drift_s']:.1f} | "
              f"{d['train_s']:.1f} ({d['trees']:.0f} trees) | {d['shap_s']:.1f} | {d['peak_worker_bytes'] / gib:.2f} GiB | "
              f"{d['ks_bound_max']:.1e} |", flush=True)
        if rows <= args.local_max_rows:
            loc = run_local(train, batch)
            if "failed" in loc:
                print(f"| {rows:,} | | local | failed (exit {loc['failed']}) | | | | |")
            else:
                print(f"| {rows:,} | {size / gib:.2f} GiB | local (ratio dask/local) | {loc['drift_s']:.1f} "
                      f"({d['drift_s'] / loc['drift_s']:.1f}x) | {loc['train_s']:.1f} ({d['train_s'] / loc['train_s']:.1f}x) | "
                      f"{loc['shap_s']:.1f} ({d['shap_s'] / loc['shap_s']:.1f}x) | {loc['peak_worker_bytes'] / gib:.2f} GiB | exact |",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
