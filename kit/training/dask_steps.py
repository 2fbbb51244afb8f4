"""The training phase's steps on the Dask engine (used by :class:`~kit.training.phase.TrainingRun` when the run
has a cluster client; the local engine never imports this module).

What runs where:

* on the workers, per partition: cleaning and typing the rows (:func:`kit.compute.lazy.load_lazy`), the data hash,
  the quality report and the data contract (:mod:`kit.compute.checks`), the boosters (``xgboost.dask`` /
  ``lightgbm.dask`` on every training row, :func:`kit.compute.train.train_dask`) and every candidate's validation
  and test scores;
* on the client: the target column (labels fit in memory even when the features do not), the split positions,
  the baselines (on every training row up to ``dask.baseline_sample_rows`` in ``kit/content/training.yaml``, else
  on a seeded sample of that many), and the gathered score arrays, so thresholds, metrics, bootstrap intervals,
  selection and gates are the local path's own functions.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit import content
from kit.data import dataset_sha256  # noqa: F401 - where the Dask path (and its tests) found it
from kit.errors import DataError

LABEL = "__y__"


def baseline_cap() -> int:
    """Most training rows the baselines fit on (``dask.baseline_sample_rows``)."""
    return int(content.load("training")["dask"]["baseline_sample_rows"])


def baseline_rows(train: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """The baselines' training positions: every training row (in the split's order) when at most ``cap``, else a
    seeded sample of ``cap`` (sorted)."""
    train = np.asarray(train, dtype=np.int64)
    if len(train) <= cap:
        return train
    return np.sort(np.random.default_rng(seed).choice(train, size=cap, replace=False))


def load_frame(spec: Any, client: Any) -> Any:
    """The dataset as a :class:`~kit.compute.lazy.LazyData` (cleaned on the workers as load_dataset cleans it)."""
    from kit.compute.lazy import load_lazy

    return load_lazy(spec, client)


def split_columns(lazy: Any, time_column: str | None) -> pd.DataFrame | None:
    """What make_split reads of the rows besides the labels: the time column (gathered) when the split is
    time-ordered, else nothing."""
    return lazy.columns([time_column]) if time_column else None


def _with_labels(part: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """One partition with its encoded labels (looked up by the global row position, the index) as ``__y__``."""
    return part.assign(**{LABEL: np.asarray(y)[part.index.to_numpy()]})


def labelled(lazy: Any, positions: np.ndarray, features: list[str], y: Any, dtype: Any) -> Any:
    """The rows at ``positions`` (lazy, position order): ``features`` and the encoded label column ``__y__``
    (``y`` the labels of every row by position, as an array or a scattered one; ``dtype`` theirs)."""
    rows = lazy.subset(positions)[features]
    meta = rows._meta.assign(**{LABEL: np.zeros(0, dtype=dtype)})
    return rows.map_partitions(_with_labels, y, meta=meta)


def shared_labels(y: np.ndarray) -> Any:
    """The label array as one task of the graphs that use it (recomputed, unlike scattered data, if a worker dies)."""
    import dask

    return dask.delayed(np.asarray(y), pure=True)


def gather_scores(lazy: Any, score: Any, X: Any, order: np.ndarray, width: int = 1) -> np.ndarray:
    """``score`` on every partition of ``X`` (on the workers), gathered and put in ``order`` (the split part's order):
    n scores, or n x ``width`` class probabilities."""
    return gather_many(lazy, [(score, X, order)], width)[0]


def gather_many(lazy: Any, jobs: list[tuple[Any, Any, np.ndarray]], width: int = 1) -> list[np.ndarray]:
    """Several ``(score, rows, order)`` scorings in one pass over the data (one compute), each as gather_scores."""
    from kit.compute.train import scores_dask

    frames = lazy.compute(*(scores_dask(score, X, width) for score, X, _ in jobs))
    out = []
    for frame, (_, _, order) in zip(frames, jobs):  # a few scorings, not rows
        values = frame.loc[np.asarray(order, dtype=np.int64)].to_numpy(dtype="float64")
        out.append(values[:, 0] if width == 1 else values)
    return out


def score_width(task: str, classes: list[Any] | None) -> int:
    """Columns of a candidate's scores: K class probabilities (multiclass), else one."""
    return len(classes) if task == "multiclass" else 1


def train_candidates_dask(
    lazy: Any, parts: dict[str, np.ndarray], y: np.ndarray, features: list[str], settings: Any, seed: int,
    costs: dict[str, float] | None = None, **meta: Any,
) -> tuple[list[Any], dict[str, Any]]:
    """Baselines on the client (every training row, or a stated seeded sample) and boosters on the cluster; each
    candidate carries its validation and test scores (computed per partition, in the parts' order). Also returns
    what ran where, for the artifact."""
    from kit.compute.train import infer_categories_dask
    from kit.training.pipeline import positive_weight

    task, classes = meta["task"], meta.get("classes")
    kind = np.float64 if task == "regression" else np.int64
    y = np.asarray(y, dtype=kind)
    y_train = y[parts["train"]]
    if task != "regression" and len(np.unique(y_train)) < 2:
        raise DataError("the training rows hold only one class; a model needs at least two classes to learn from")
    if task == "multiclass" and not classes:
        raise DataError("a multiclass run needs its classes (the original labels in encoded order)")
    X = {name: lazy.subset(parts[name])[features] for name in ("train", "valid", "test")}
    categories = infer_categories_dask(X["train"], lazy.client)
    width = score_width(task, classes)
    sample = baseline_rows(parts["train"], baseline_cap(), seed)
    candidates = _baselines_on_sample(lazy, sample, y, features, categories, seed, task, len(classes or []))
    scores = gather_many(lazy, [(c.baseline, X[p], parts[p]) for c in candidates for p in ("valid", "test")], width)
    for cand, valid, test in zip(candidates, scores[::2], scores[1::2]):  # two baselines, scored in one pass
        cand.valid_proba, cand.extra["test_proba"] = valid, test
    weight = positive_weight(y_train, settings.imbalance) if task == "binary" else None
    labels = shared_labels(y)
    rows = {name: labelled(lazy, parts[name], features, labels, kind) for name in ("train", "valid")}
    for algorithm in settings.algorithms:
        cand = _fit_boosted_dask(algorithm, lazy, rows, parts, y, X, settings, seed, weight, categories, meta, costs)
        candidates.append(cand)
    facts = {"baseline_sample": {"rows": int(len(sample)), "of_training_rows": int(len(parts["train"])),
                                 "seed": int(seed), "all_rows": bool(len(sample) == len(parts["train"])),
                                 "cap": baseline_cap()}}
    return candidates, facts


def sample_notes(facts: dict[str, Any]) -> list[str]:
    """A training note when the baselines saw a sample of the training rows (nothing when they saw every row)."""
    sample = facts["baseline_sample"]
    if sample["all_rows"]:
        return []
    return [f"the baselines were fitted on a seeded sample of {sample['rows']:,} of the {sample['of_training_rows']:,} "
            f"training rows (seed {sample['seed']}; dask.baseline_sample_rows in kit/content/training.yaml), the "
            "boosters on every training row; every candidate is scored on every validation and test row"]


def _baselines_on_sample(lazy: Any, sample: np.ndarray, y: np.ndarray, features: list[str],
                         categories: dict[str, list[Any]], seed: int, task: str, n_classes: int) -> list[Any]:
    """The task's two baselines fitted on the sampled training rows (gathered to the client), as the local path
    fits them (their validation scores are set afterwards, per partition)."""
    from kit.training.pipeline import _baselines
    from kit.training.scoring import prepare_features

    rows = prepare_features(lazy.take(sample, features), features, categories)
    # _baselines scores the validation rows it is given; one row stands in (the real scores come per partition)
    return _baselines(rows, y[sample], rows.iloc[:1], categories, seed, task, n_classes)


def _fit_boosted_dask(algorithm: str, lazy: Any, rows: dict[str, Any], parts: dict[str, np.ndarray], y: np.ndarray,
                      X: dict[str, Any], settings: Any, seed: int, weight: float | None,
                      categories: dict[str, list[Any]], meta: dict[str, Any],
                      costs: dict[str, float] | None) -> Any:
    """One algorithm on the cluster (defaults, or the best of the same seeded random search as the local path),
    as a candidate with its validation and test scores."""
    from kit.compute.train import train_dask
    from kit.tasks import higher_is_better, selection_metric
    from kit.training.metrics import task_metrics
    from kit.training.pipeline import (
        Candidate,
        _sample_params,
        decision_threshold,
        metrics_key,
    )

    task = meta["task"]
    if algorithm == "lightgbm" and task == "multiclass":
        _all_classes_present(y[parts["train"]], meta["classes"])
    y_valid = y[parts["valid"]]
    width = score_width(task, meta.get("classes"))
    space = content.load("training")["tuning_space"][algorithm]
    rng = np.random.default_rng(seed)
    draws = [{}] + [_sample_params(space, rng) for _ in range(settings.tuning.trials)]
    metric = selection_metric(settings, task)
    sign = 1.0 if higher_is_better(metric) else -1.0
    best: tuple | None = None
    t0, tried = time.perf_counter(), 0
    for overrides in draws:  # a handful of parameter sets, not rows
        if settings.tuning.seconds and tried and time.perf_counter() - t0 > settings.tuning.seconds:
            break
        model = train_dask(lazy.client, algorithm, rows["train"], LABEL, rows["valid"], LABEL, settings, seed, weight,
                           overrides, categories=categories, **meta)
        proba, test = gather_many(lazy, [(_scorer(model), X[p], parts[p]) for p in ("valid", "test")], width)
        threshold = decision_threshold(y_valid, proba, costs, settings.threshold) if task == "binary" else 0.5
        metrics = task_metrics(task, y_valid, proba, threshold)
        tried += 1
        if best is None or sign * metrics[metric] > best[0]:
            best = (sign * metrics[metric], model, proba, threshold, metrics, test)
    _, model, proba, threshold, metrics, test = best
    info = model.info
    model.info = {k: info[k] for k in ("params", "trees", "library_version", "notes")} | {"engine": "dask"}
    cand = Candidate(algorithm, "model", info["params"], proba, time.perf_counter() - t0,
                     model=model, trees=info["trees"], trials=tried, notes=list(info["notes"]) + [info[k] for k in ("retried",) if info.get(k)],
                     metric_cache={metrics_key(y_valid, threshold): metrics}, task=task)
    cand.extra["test_proba"] = test  # scored with the validation rows (one pass); never used to choose
    return cand


def _all_classes_present(y_train: np.ndarray, classes: list[Any]) -> None:
    """LightGBM's Dask classifier encodes the labels it sees: every class must occur in the training rows."""
    missing = sorted(set(range(len(classes))) - set(np.unique(y_train).tolist()))
    if missing:
        raise DataError(f"lightgbm on Dask: class(es) {[classes[i] for i in missing]} have no training row; "
                        "use more rows, drop those classes, or train xgboost only (training.algorithms)")


def _scorer(model: Any) -> Any:
    """The task's scoring function of a ScoringModel: predictions (regression), else probabilities."""
    return model.predict if model.task == "regression" else model.predict_proba


def model_test_scores(lazy: Any, model: Any, positions: np.ndarray, width: int) -> np.ndarray:
    """A saved model's scores of the rows at ``positions`` (per partition, in that order), e.g. the champion's."""
    return gather_scores(lazy, _scorer(model), lazy.subset(positions), positions, width)


def engine_record(client: Any, spec: Any, partitions: int) -> dict[str, Any]:
    """The artifact's ``engine``: the cluster, where each step ran (the baselines' sample is added by the training)."""
    workers = client.scheduler_info().get("workers", {}) if client is not None else {}
    load = ("workers (each Parquet file read and cleaned by one plan decided over every file); the target column "
            "gathered to the client" if partitions > 1 else
            "client (one file: read and cleaned as locally), then held on the workers as one partition; the target "
            "column gathered")
    return {
        "name": "dask", "workers": len(workers), "partitions": int(partitions),
        "steps": {
            "load": load,
            "split": "client (on the gathered target" + (" and time column)" if spec.time_column else ")"),
            "data hash": "workers (per partition)",
            "quality report": "workers (kit.compute.checks: per partition, summaries merged)",
            "contract": "workers (kit.compute.checks: inferred and checked per partition)",
            "baselines": "client (the sampled training rows gathered; see baseline_sample)",
            "boosters": "workers (xgboost.dask / lightgbm.dask on every training row)",
            "scores": "workers (every candidate's validation and test scores per partition, gathered as arrays)",
            "thresholds, metrics, selection, gates": "client (on the gathered arrays, as locally)",
        },
    }
