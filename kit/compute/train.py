"""Training and explaining on Dask: xgboost.dask / lightgbm.dask on partitioned rows, SHAP per partition.

The boosters come back as the same native objects the local path trains (``xgboost.Booster``,
``lightgbm.Booster``) inside a :class:`~kit.training.scoring.ScoringModel`, so saving (XGBoost JSON,
LightGBM text), registering, explaining and monitoring do not care which engine trained them. The parameters
are ``kit.training.pipeline.model_params`` (content defaults, overrides, seed), with the same early stopping
on (positive-weighted) validation rows and the same best-iteration truncation.
"""
from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pandas as pd

from kit.compute.faults import guarded, retried
from kit.errors import DataError


def infer_categories_dask(X: Any, client: Any | None = None) -> dict[str, list[Any]]:
    """Category levels of every non-numeric column over all partitions (sorted), as ``infer_categories`` does."""
    from kit.compute.drift import _over_partitions
    from kit.training.pipeline import _plain

    text = [c for c in X.columns if not (pd.api.types.is_numeric_dtype(X._meta[c]) or pd.api.types.is_bool_dtype(X._meta[c]))]
    if not text:
        return {}
    parts = _over_partitions(X, _levels, text, client)
    return {c: sorted(_plain(v) for v in set().union(*(p[c] for p in parts))) for c in text}


def _levels(part: pd.DataFrame, columns: list[str]) -> dict[str, set[Any]]:
    """The distinct non-missing values of ``columns`` in one partition."""
    return {c: set(part[c].dropna().unique().tolist()) for c in columns}


def booster_frame(part: pd.DataFrame, features: list[str], categories: dict[str, list[Any]], names: list[str]) -> pd.DataFrame:
    """One partition prepared exactly as the local path prepares rows, under the boosters' safe names."""
    from kit.training.scoring import prepare_features

    return prepare_features(part, features, categories).set_axis(names, axis=1)


def _prepared(X: Any, features: list[str], categories: dict[str, list[Any]], names: list[str]) -> Any:
    """The partitioned booster input (the preparation runs on the workers)."""
    meta = booster_frame(X._meta, features, categories, names)
    return X.map_partitions(booster_frame, features, categories, names, meta=meta)


def _weights(y: Any, pos_weight: float | None) -> Any | None:
    """Validation row weights matching the training objective (positives weighted), None when 1 or not binary."""
    if pos_weight is None or pos_weight == 1.0:
        return None
    return y.map_partitions(lambda s: pd.Series(np.where(s.to_numpy() == 1, pos_weight, 1.0), index=s.index),
                            meta=("weight", "f8"))


def _as_float32(part: pd.DataFrame) -> pd.DataFrame:
    """A partition's float64 columns as float32 (what XGBoost stores them as anyway)."""
    wide = [c for c in part.columns if part[c].dtype == "float64"]
    return part.astype(dict.fromkeys(wide, "float32")) if wide else part


def _single_precision(X: Any) -> Any:
    """The booster input with float32 numbers: half the worker memory, the same XGBoost model (it bins float32)."""
    return X.map_partitions(_as_float32, meta=_as_float32(X._meta))


def _identity(part: Any) -> Any:
    """The partition itself (a task that places a copy where it runs)."""
    return part


def spread_over_workers(client: Any, frames: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Each (features, labels) pair computed and held on the workers, empty partitions left out, and moved only
    when needed so that every worker holding rows of one pair holds rows of every pair.

    The boosters train on the workers that hold data, each with its own share of every matrix: a worker whose
    share of the validation rows is empty breaks XGBoost with categorical features ("A worker cannot have empty
    input"), and a split part often leaves a file's partition empty. When the scheduler's own placement already
    covers every worker alike, nothing is pinned (a pinned task cannot move when its worker dies); otherwise the
    non-empty partitions are placed round-robin over k workers, k the smallest number of non-empty partitions of
    any pair, as a preference that a dying worker does not block.
    """
    import dask.dataframe as dd
    from distributed import wait

    held = []
    for X, y in frames:
        pairs = [client.compute([x, label]) for x, label in zip(X.to_delayed(), y.to_delayed())]
        wait([f for pair in pairs for f in pair])
        lengths = client.gather([client.submit(len, pair[1], pure=False) for pair in pairs])
        held.append([pair for pair, n in zip(pairs, lengths) if n])
    if min(len(pairs) for pairs in held) == 0:
        raise DataError("no rows to train on: the training or validation rows are empty on the cluster; check "
                        "the split (training.valid_size, training.test_size) and the data")
    where = client.who_has([f for pairs in held for pair in pairs for f in pair])
    holders = [{w for pair in pairs for f in pair for w in where.get(f.key, ())} for pairs in held]
    if any(h != holders[0] for h in holders):
        workers = sorted(set().union(*holders))
        k = min(len(workers), *(len(pairs) for pairs in held))
        held = [[[client.submit(_identity, f, workers=[workers[j % k]], allow_other_workers=True, pure=False)
                  for f in pair] for j, pair in enumerate(pairs)] for pairs in held]
    return [(dd.from_delayed([p[0] for p in pairs], meta=X._meta, verify_meta=False),
             dd.from_delayed([p[1] for p in pairs], meta=y._meta, verify_meta=False))
            for (X, y), pairs in zip(frames, held)]


def fit_xgboost_dask(client: Any, Xtr: Any, ytr: Any, Xva: Any, yva: Any, params: dict[str, Any], max_trees: int,
                     early_stopping: int, pos_weight: float | None = 1.0, task: str = "binary") -> Any:
    """xgboost.dask.train with early stopping on the validation rows; keep only the best trees (the task's
    objective and metric are in ``params``; ``pos_weight`` None for multiclass and regression)."""
    from xgboost import dask as dxgb

    from kit.training.pipeline import _with_weight

    (Xtr, ytr), (Xva, yva) = spread_over_workers(client, [(_single_precision(Xtr), ytr), (_single_precision(Xva), yva)])
    dtrain = dxgb.DaskQuantileDMatrix(client, Xtr, ytr, enable_categorical=True)
    dvalid = dxgb.DaskQuantileDMatrix(client, Xva, yva, weight=_weights(yva, pos_weight), enable_categorical=True,
                                      ref=dtrain)
    out = dxgb.train(client, _with_weight(params, pos_weight), dtrain, num_boost_round=max_trees,
                     evals=[(dvalid, "valid")], early_stopping_rounds=early_stopping, verbose_eval=False)
    booster = out["booster"]
    return booster[: booster.best_iteration + 1]


def fit_lightgbm_dask(client: Any, Xtr: Any, ytr: Any, Xva: Any, yva: Any, params: dict[str, Any], max_trees: int,
                      early_stopping: int, pos_weight: float | None = 1.0, task: str = "binary") -> Any:
    """lightgbm.dask (one LightGBM network over the workers), then early stopping decided on the validation rows.

    LightGBM's own early stopping is per worker in its Dask interface (a worker without validation rows, or
    one that stops first, breaks the network: "Socket recv error"), so the kit trains up to ``max_trees`` and
    applies the same rule afterwards: the validation log loss after every tree is merged over the partitions,
    and the booster keeps the trees up to the best iteration before ``early_stopping`` rounds without
    improvement, as ``lgb.early_stopping`` would have stopped. The loss is the task's early-stopping metric:
    binary log loss, multiclass log loss (``multi_logloss``) or squared error (``l2``).
    """
    from lightgbm import dask as dlgb

    from kit.training.pipeline import _with_weight

    estimator = dlgb.DaskLGBMRegressor if task == "regression" else dlgb.DaskLGBMClassifier
    if task == "multiclass":  # the classifier encodes the labels it sees; codes stay codes only when all occur
        params = {k: v for k, v in params.items() if k != "num_class"}  # the classifier sets it from the labels
    model = estimator(client=client, n_estimators=max_trees, **_with_weight(params, pos_weight))
    [(Xtr, ytr)] = spread_over_workers(client, [(Xtr, ytr)])
    model.fit(Xtr, ytr)
    booster = model.booster_
    losses = validation_loss_path(booster, Xva, yva, _weights(yva, pos_weight), client, task)
    best = early_stopping_iteration(losses, early_stopping)
    import lightgbm as lgb

    kept = lgb.Booster(model_str=booster.model_to_string(num_iteration=best + 1))
    kept.best_iteration = best + 1
    return kept


def _leaf_values(booster: Any) -> np.ndarray:
    """Output of every leaf of every tree (trees x most leaves; unused slots 0; multiclass: K trees per iteration)."""
    info = booster.dump_model()["tree_info"]
    values = np.zeros((len(info), max(t["num_leaves"] for t in info)))
    for tree, t in enumerate(info):  # a loop over trees and leaves, not rows
        for leaf in range(t["num_leaves"]):
            values[tree, leaf] = booster.get_leaf_output(tree, leaf)
    return values


def _loss_path(part: pd.DataFrame, booster_str: str, leaves: np.ndarray, task: str = "binary",
               k: int = 1) -> tuple[np.ndarray, float]:
    """Weighted loss sum after each iteration over one partition (``__y__``, ``__w__`` columns), and the weight sum:
    binary log loss, multiclass log loss (``k`` classes) or squared error (regression)."""
    import lightgbm as lgb

    booster = lgb.Booster(model_str=booster_str)
    X = part.drop(columns=["__y__", "__w__"])
    index = np.asarray(booster.predict(X, pred_leaf=True), dtype=np.int64).reshape(len(X), -1)
    y, w = part["__y__"].to_numpy(dtype=float), part["__w__"].to_numpy(dtype=float)[:, None]
    values = leaves[np.arange(index.shape[1]), index]  # rows x trees
    if task == "multiclass":  # trees interleave the classes: tree t scores class t % k at iteration t // k
        raw = np.cumsum(values.reshape(len(X), -1, k), axis=1)  # rows x iterations x classes
        picked = np.take_along_axis(raw, y.astype(np.int64)[:, None, None], axis=2)[:, :, 0]
        loss = np.logaddexp.reduce(raw, axis=2) - picked  # -log softmax of the true class
    elif task == "regression":
        loss = (np.cumsum(values, axis=1) - y[:, None]) ** 2
    else:
        raw = np.cumsum(values, axis=1)
        loss = np.logaddexp(0.0, raw) - y[:, None] * raw  # -log-likelihood of a logistic raw score
    return (w * loss).sum(axis=0), float(w.sum())


def validation_loss_path(booster: Any, X: Any, y: Any, weights: Any | None, client: Any | None,
                         task: str = "binary") -> np.ndarray:
    """Mean (weighted) validation loss after each iteration (the task's early-stopping metric), merged over the
    partitions."""
    from kit.compute.drift import _over_partitions

    frame = X.assign(__y__=y, __w__=1.0 if weights is None else weights)
    k = int(booster.num_model_per_iteration())
    parts = _over_partitions(frame, lambda part, arg: _loss_path(part, *arg),
                             (booster.model_to_string(), _leaf_values(booster), task, k), client)
    return sum(p[0] for p in parts) / sum(p[1] for p in parts)


def early_stopping_iteration(losses: np.ndarray, rounds: int) -> int:
    """The 0-based iteration early stopping keeps: the best loss before ``rounds`` iterations without improvement."""
    best = 0
    for i, loss in enumerate(losses):  # one pass over iterations, as the callback does
        if loss < losses[best]:
            best = i
        elif i - best >= rounds:
            break
    return best


FITS = {"xgboost": fit_xgboost_dask, "lightgbm": fit_lightgbm_dask}


@retried("training on Dask")
def train_dask(client: Any, algorithm: str, X_train: Any, y_train: Any, X_valid: Any, y_valid: Any, settings: Any,
               seed: int, pos_weight: float | None, overrides: dict[str, Any] | None = None,
               categories: dict[str, list[Any]] | None = None, **meta: Any) -> Any:
    """Train one booster on the cluster and return it as a ScoringModel (the same object the local path returns).

    ``meta`` holds the ScoringModel's target, classes and ``task`` (binary, multiclass with its ``classes``, or
    regression; the labels encoded as :mod:`kit.training.data` does); ``pos_weight`` is None for the tasks
    without a positive class. ``categories`` (the training rows' levels) are inferred when not given.
    """
    from kit.training.pipeline import _version, _with_weight, few_trees_notes, model_params
    from kit.training.scoring import ScoringModel, booster_name

    task = meta.get("task", "binary")
    if task == "multiclass" and not meta.get("classes"):
        raise DataError("a multiclass model trained on Dask needs its classes (the original labels in encoded order)")

    if algorithm not in FITS:
        raise DataError(f"algorithm {algorithm!r} cannot train on Dask; use one of {sorted(FITS)}")
    for part, X, y in (("training", X_train, y_train), ("validation", X_valid, y_valid)):
        if not isinstance(y, str) and X.npartitions != y.npartitions:
            raise DataError(f"{part} rows: the features come in {X.npartitions} partitions and the labels in "
                            f"{y.npartitions}; take both from one frame read with kit.compute.data.read_lazy "
                            "(one partition per file)")
    if isinstance(y_train, str):  # labels as a column of the same frame (the way to read them from Parquet)
        (X_train, y_train), (X_valid, y_valid) = _aligned(client, X_train, y_train), _aligned(client, X_valid, y_valid)
    features = list(X_train.columns)
    categories = infer_categories_dask(X_train, client) if categories is None else categories
    names = [booster_name(f) for f in features]
    params = model_params(algorithm, overrides, seed, task, len(meta.get("classes") or []))
    Xtr, ytr = _aligned(client, _prepared(X_train, features, categories, names), y_train)
    Xva, yva = _aligned(client, _prepared(X_valid, features, categories, names), y_valid)
    with client.as_current() if client is not None else contextlib.nullcontext():  # xgboost.dask looks it up
        booster = FITS[algorithm](client, Xtr, ytr, Xva, yva, params, settings.max_trees,
                                  settings.early_stopping_rounds, pos_weight, task)
    trees = int(booster.num_boosted_rounds()) if algorithm == "xgboost" else int(booster.best_iteration or booster.current_iteration())
    model = ScoringModel(algorithm, booster, features, categories, **meta, booster_features=names)
    model.info = {"params": _with_weight(params, pos_weight), "trees": trees, "library_version": _version(algorithm),
                  "notes": few_trees_notes(algorithm, trees, settings.max_trees), "engine": "dask"}
    return model


LABEL = "__label__"


def _aligned(client: Any, X: Any, y: Any) -> tuple[Any, Any]:
    """Features and labels as two projections of one frame behind a barrier: partitioned alike for the boosters.

    Dask's optimizer reads a one-column projection of Parquet files in fewer, fused partitions than the
    features (at 10 million rows: 4 label partitions for 20 feature partitions), which the boosters refuse; a
    projection cannot move below ``map_partitions``, so both sides keep the joint frame's partitions.
    """
    if isinstance(y, str):  # the label is a column of X: one projection, nothing to align (no shuffle)
        both = X.map_partitions(_same, meta=X._meta)
        return both.drop(columns=[y]), both[y]
    joined = X.assign(**{LABEL: y})
    both = joined.map_partitions(_same, meta=joined._meta)
    return both.drop(columns=[LABEL]), both[LABEL]


def _same(part: pd.DataFrame) -> pd.DataFrame:
    """The partition unchanged (a barrier to projection pushdown)."""
    return part


def predict_proba_dask(model: Any, X: Any) -> Any:
    """P(positive) for every row of a Dask DataFrame, scored partition by partition on the workers."""
    return X.map_partitions(lambda part: pd.Series(model.predict_proba(part), index=part.index), meta=("proba", "f8"))


def _partition_scores(part: pd.DataFrame, score: Any, width: int) -> pd.DataFrame:
    """One partition's scores as a frame (``s0`` .. ``s<width-1>``), indexed like the partition."""
    values = np.asarray(score(part), dtype="float64").reshape(len(part), width)
    return pd.DataFrame(values, index=part.index, columns=[f"s{i}" for i in range(width)])


def scores_dask(score: Any, X: Any, width: int = 1) -> Any:
    """``score(rows)`` (a candidate's or model's scores: n, or n x ``width`` class probabilities) on every
    partition of a Dask DataFrame, on the workers; a Dask DataFrame of ``width`` float columns, same index."""
    meta = pd.DataFrame({f"s{i}": pd.Series(dtype="f8") for i in range(width)})
    return X.map_partitions(_partition_scores, score, width, meta=meta)


def _partition_contributions(part: pd.DataFrame, model: Any) -> pd.DataFrame:
    """Exact SHAP contributions (the booster's own pred_contribs) of one partition, base value last."""
    from kit.explain.shapley import exact_contributions

    if not len(part):  # a partition without rows (e.g. a split part's subset): the boosters refuse empty input
        return pd.DataFrame({c: pd.Series(dtype="f8") for c in [*model.features, "__base__"]}, index=part.index)
    contribs = exact_contributions(model.booster, model.prepare(part).set_axis(model.booster_features, axis=1))
    out = contribs.values.set_axis(model.features, axis=1)
    out["__base__"] = contribs.base
    return out


def contributions_dask(model: Any, X: Any) -> Any:
    """Exact SHAP contributions of every row, per partition (a Dask DataFrame: features, then ``__base__``)."""
    meta = pd.DataFrame({**{f: pd.Series(dtype="f8") for f in model.features}, "__base__": pd.Series(dtype="f8")})
    return X.map_partitions(_partition_contributions, model, meta=meta)


@guarded("SHAP importance on Dask")
def global_importance_dask(model: Any, X: Any, client: Any | None = None) -> pd.DataFrame:
    """Mean |SHAP| and mean SHAP per feature over every row (sums merged over partitions), as ``global_importance``."""
    contribs = contributions_dask(model, X)[model.features]
    sums = contribs.abs().sum(), contribs.sum(), contribs.shape[0]
    if client is None:
        import dask

        abs_sum, signed_sum, rows = dask.compute(*sums, scheduler="sync")
    else:
        abs_sum, signed_sum, rows = client.gather(client.compute(list(sums)))
    table = pd.DataFrame({"feature": model.features, "mean_abs_shap": (abs_sum / rows).to_numpy(),
                          "mean_shap": (signed_sum / rows).to_numpy()})
    total = table["mean_abs_shap"].sum()
    table["share"] = table["mean_abs_shap"] / total if total > 0 else 0.0
    table = table.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table
