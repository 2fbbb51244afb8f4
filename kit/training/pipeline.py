"""Training candidates: two baselines, XGBoost and LightGBM, and choosing among them.

``train_candidates`` is the public entry point (the monitoring phase also calls it to train a
challenger): it learns the category levels from the training rows, prepares every part the
way :class:`~kit.training.scoring.ScoringModel` will at scoring time, fits two baselines per task

* binary: ``majority`` (always the training positive rate) and ``logistic_regression``,
* multiclass: ``majority`` (the training class frequencies, so it always predicts the majority
  class) and a multinomial ``logistic_regression``,
* regression: ``mean`` (the training mean: the constant with the lowest squared error, so the
  fair floor for RMSE; the median would be the floor for MAE) and ``ridge`` regression,

(the linear ones regularized, on one-hot categoricals and scaled numbers), then
``xgboost`` and ``lightgbm`` with the task's objective, native categorical support, early
stopping on the validation split, positives weighted when rare (binary), an optional seeded
random search, and scores each on the validation split. Thresholds (binary only) are chosen on
validation, metrics are reported on test: the test rows are never used to make a choice.

A candidate's scores are P(positive) (binary, 1-D), class probabilities (multiclass, n x K) or
predictions in the target's units (regression, 1-D).
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from kit import content
from kit.errors import DataError
from kit.tasks import higher_is_better, selection_metric
from kit.training.metrics import bootstrap_task_metrics, choose_threshold, task_metric_names, task_metrics
from kit.training.scoring import ScoringModel, booster_name, prepare_features, thread_count

BASELINES = ("majority", "logistic_regression")
TASK_BASELINES = {"binary": BASELINES, "multiclass": BASELINES, "regression": ("mean", "ridge")}


@dataclass
class Candidate:
    """One fitted candidate: how to score it, its parameters and its validation scores."""

    name: str
    kind: str  # "baseline" or "model"
    params: dict[str, Any]
    valid_proba: np.ndarray
    fit_seconds: float
    model: ScoringModel | None = None
    baseline: Any = None
    trees: int | None = None
    trials: int = 1
    threshold: float = 0.5
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    metric_cache: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    task: str = "binary"

    def valid_metrics(self, y_valid: np.ndarray) -> dict[str, float]:
        """Validation metrics of the validation scores (binary: at the candidate's threshold), computed once per labels and threshold."""
        key = metrics_key(y_valid, self.threshold)
        if key not in self.metric_cache:
            self.metric_cache[key] = task_metrics(self.task, y_valid, self.valid_proba, self.threshold)
        return self.metric_cache[key]

    def scores(self, X: pd.DataFrame) -> np.ndarray:
        """The task's scores for raw rows (P(positive), class probabilities, or predictions), prepared as in training."""
        if self.model is not None:
            return self.model.predict(X) if self.task == "regression" else self.model.predict_proba(X)
        return self.baseline(X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """P(positive) for raw rows (binary; the task's scores otherwise), through the same preparation as in training."""
        return self.scores(X)


def metrics_key(y: np.ndarray, threshold: float) -> str:
    """Fingerprint of a label vector and a threshold (metrics computed on the same pair are reused)."""
    y = np.asarray(y)
    y = y.astype(np.float64) if y.dtype.kind == "f" else y.astype(np.int64)
    digest = hashlib.blake2b(np.ascontiguousarray(y).tobytes(), digest_size=16).hexdigest()
    return f"{digest}{y.dtype.kind}@{threshold!r}"


def infer_categories(X: pd.DataFrame) -> dict[str, list[Any]]:
    """Category levels of every non-numeric column, as seen in the training rows (sorted)."""
    cats = {}
    for col in X.columns:  # a loop over columns, not rows
        values = X[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            cats[col] = [_plain(v) for v in _used_levels(values)]
        elif not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            cats[col] = sorted(_plain(v) for v in values.dropna().unique())
    return cats


def _used_levels(values: pd.Series) -> pd.Index:
    """Levels of a categorical that occur at least once (counted on the codes, without recoding)."""
    codes = values.cat.codes.to_numpy()
    levels = values.cat.categories
    used = np.bincount(codes[codes >= 0], minlength=len(levels)) > 0
    return levels[used]


def _plain(value: Any) -> Any:
    """A numpy scalar as a plain Python value."""
    return value.item() if hasattr(value, "item") else value


def model_params(algorithm: str, overrides: dict[str, Any] | None = None, seed: int = 0, task: str = "binary",
                 n_classes: int | None = None) -> dict[str, Any]:
    """Native parameters for ``algorithm``: content defaults, the task's objective, overrides, and the seed."""
    training = content.load("training")
    params = dict(training["models"][algorithm])
    params.update(training["task_objectives"].get(task, {}).get(algorithm, {}))
    if task == "multiclass":
        params["num_class"] = int(n_classes)
    params.update(overrides or {})
    if algorithm == "xgboost":
        params["seed"] = seed
    elif algorithm == "lightgbm":
        params["seed"] = seed
    return params


def positive_weight(y: np.ndarray, imbalance: str) -> float:
    """Weight of positive rows: negatives/positives when weighting, else 1."""
    share = float(np.mean(y))
    rule = content.load("training")["imbalance"]["weight_below_share"]
    weight = imbalance == "weight" or (imbalance == "auto" and share < rule)
    return float((1 - share) / share) if weight and share > 0 else 1.0


def validation_weights(y: np.ndarray, pos_weight: float) -> np.ndarray | None:
    """Row weights of the validation rows matching the training objective (positives weighted), None when 1.

    Early stopping compares validation log loss; with positives weighted in training only, that
    loss rises from the first trees on (the weighted model's scores move above the raw rate),
    so LightGBM stopped after 3-6 trees and XGBoost ran to the tree limit (measured on ai4i).
    """
    return None if pos_weight == 1.0 else np.where(np.asarray(y) == 1, pos_weight, 1.0)


def fit_xgboost(Xtr: pd.DataFrame, ytr: np.ndarray, Xva: pd.DataFrame, yva: np.ndarray, params: dict[str, Any],
                max_trees: int, early_stopping: int, pos_weight: float | None = 1.0) -> Any:
    """Train an XGBoost booster with early stopping on (equally weighted) validation rows; keep only the best trees."""
    import xgboost as xgb

    params = {"nthread": thread_count(len(Xtr)), **params}
    dtrain = xgb.QuantileDMatrix(Xtr, ytr, enable_categorical=True, nthread=params.get("nthread"))
    dvalid = xgb.QuantileDMatrix(Xva, yva, weight=validation_weights(yva, pos_weight or 1.0), enable_categorical=True,
                                 ref=dtrain, nthread=params.get("nthread"))
    booster = xgb.train(
        _with_weight(params, pos_weight), dtrain, num_boost_round=max_trees,
        evals=[(dvalid, "valid")], early_stopping_rounds=early_stopping, verbose_eval=False,
    )
    return booster[: booster.best_iteration + 1]


def _with_weight(params: dict[str, Any], pos_weight: float | None) -> dict[str, Any]:
    """The parameters with the positive-class weight (binary; None for the other tasks, which have no positive class)."""
    return params if pos_weight is None else {**params, "scale_pos_weight": pos_weight}


def fit_lightgbm(Xtr: pd.DataFrame, ytr: np.ndarray, Xva: pd.DataFrame, yva: np.ndarray, params: dict[str, Any],
                 max_trees: int, early_stopping: int, pos_weight: float | None = 1.0) -> Any:
    """Train a LightGBM booster (pandas categoricals native) with early stopping on (equally weighted) validation rows."""
    import lightgbm as lgb

    params = {"num_threads": thread_count(len(Xtr)), **params}
    dtrain = lgb.Dataset(Xtr, ytr, free_raw_data=True)
    dvalid = lgb.Dataset(Xva, yva, weight=validation_weights(yva, pos_weight or 1.0), reference=dtrain)
    return lgb.train(
        _with_weight(params, pos_weight), dtrain, num_boost_round=max_trees, valid_sets=[dvalid],
        callbacks=[lgb.early_stopping(early_stopping, verbose=False)],
    )


def _lr_frame(X: pd.DataFrame, categories: dict[str, list[Any]]) -> pd.DataFrame:
    """Prepared rows for the logistic regression: categoricals as text with missing as its own level."""
    out = X.copy()
    for col in categories:
        out[col] = out[col].astype("object").where(out[col].notna(), "(missing)").astype(str)
    return out


def _linear_prep(columns: list[str], categories: dict[str, list[Any]]) -> Any:
    """One-hot categoricals and median-imputed, scaled numbers (the linear baselines' input)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in columns if c not in categories]
    return ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore"), list(categories)),
    ])


def fit_logistic(Xtr: pd.DataFrame, ytr: np.ndarray, categories: dict[str, list[Any]], seed: int) -> Any:
    """Regularized logistic regression (multinomial for several classes) on one-hot categoricals and imputed, scaled numbers."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    params = content.load("training")["models"]["logistic_regression"]
    model = make_pipeline(_linear_prep(list(Xtr.columns), categories), LogisticRegression(**params, random_state=seed))
    return model.fit(_lr_frame(Xtr, categories), ytr)


def fit_ridge(Xtr: pd.DataFrame, ytr: np.ndarray, categories: dict[str, list[Any]]) -> Any:
    """Ridge regression on one-hot categoricals and imputed, scaled numbers."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    params = content.load("training")["models"]["ridge"]
    model = make_pipeline(_linear_prep(list(Xtr.columns), categories), Ridge(**params))
    return model.fit(_lr_frame(Xtr, categories), ytr)


def _sample_params(space: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """One random draw from a tuning space (lists are choices, ranges uniform or log-uniform)."""
    params = {}
    for key, dist in space.items():
        if isinstance(dist, list):
            params[key] = _plain(dist[int(rng.integers(len(dist)))])
        elif dist.get("log"):
            params[key] = float(math.exp(rng.uniform(math.log(dist["low"]), math.log(dist["high"]))))
        else:
            params[key] = float(rng.uniform(dist["low"], dist["high"]))
    return params


def train_candidates(
    X_train: pd.DataFrame, y_train: np.ndarray, X_valid: pd.DataFrame, y_valid: np.ndarray,
    settings: Any, seed: int, baselines: bool = True, target: str = "target",
    positive_class: Any = 1, negative_class: Any = 0, costs: dict[str, float] | None = None,
    task: str = "binary", classes: list[Any] | None = None,
) -> list[Candidate]:
    """Fit the baselines and every configured algorithm; each candidate carries its validation scores.

    ``X_*`` hold the feature columns only (their order is the model's feature order);
    ``settings`` is a :class:`~kit.training.config.TrainingSection`; ``costs`` (false_positive,
    false_negative) set the threshold at which a search compares parameter sets (binary).
    ``y_*`` are encoded as :mod:`kit.training.data` does: 0/1, class index 0..K-1 (``classes``
    the original labels), or floats (regression).
    """
    kind = np.float64 if task == "regression" else np.int64
    y_train, y_valid = np.asarray(y_train, dtype=kind), np.asarray(y_valid, dtype=kind)
    if task != "regression" and len(np.unique(y_train)) < 2:
        raise DataError("the training rows hold only one class; a model needs at least two classes to learn from")
    if task == "multiclass" and not classes:
        raise DataError("a multiclass run needs its classes (the original labels in encoded order)")
    features = [str(c) for c in X_train.columns]
    categories = infer_categories(X_train)
    Xtr = prepare_features(X_train, features, categories)
    Xva = prepare_features(X_valid, features, categories)
    candidates = [] if not baselines else _baselines(Xtr, y_train, Xva, categories, seed, task, len(classes or []))
    weight = positive_weight(y_train, settings.imbalance) if task == "binary" else None
    meta = {"target": target, "positive_class": positive_class, "negative_class": negative_class, "task": task,
            "classes": list(classes) if classes is not None else None}
    for algorithm in settings.algorithms:
        candidates.append(_fit_boosted(algorithm, Xtr, y_train, Xva, y_valid, settings, seed, weight, features,
                                       categories, meta, costs))
    return candidates


def _baselines(Xtr: pd.DataFrame, ytr: np.ndarray, Xva: pd.DataFrame, categories: dict[str, list[Any]], seed: int,
               task: str = "binary", n_classes: int = 0) -> list[Candidate]:
    """The task's two baselines: a constant (majority rate, class frequencies, mean) and a regularized linear model."""
    if task == "multiclass":
        return _multiclass_baselines(Xtr, ytr, Xva, categories, seed, n_classes)
    if task == "regression":
        return _regression_baselines(Xtr, ytr, Xva, categories)
    rate = float(ytr.mean())
    features = list(Xtr.columns)
    t0 = time.perf_counter()
    logit = fit_logistic(Xtr, ytr, categories, seed)
    lr_seconds = time.perf_counter() - t0

    def lr_proba(X: pd.DataFrame) -> np.ndarray:
        """Logistic-regression scores for raw rows."""
        return logit.predict_proba(_lr_frame(prepare_features(X, features, categories), categories))[:, 1]

    def majority(X: pd.DataFrame) -> np.ndarray:
        """The training positive rate for every row."""
        return np.full(len(X), rate)

    return [
        Candidate("majority", "baseline", {"positive_rate": rate}, np.full(len(Xva), rate), 0.0, baseline=majority),
        Candidate("logistic_regression", "baseline", content.load("training")["models"]["logistic_regression"],
                  logit.predict_proba(_lr_frame(Xva, categories))[:, 1], lr_seconds, baseline=lr_proba, extra={"linear": logit}),
    ]


def _multiclass_baselines(Xtr: pd.DataFrame, ytr: np.ndarray, Xva: pd.DataFrame, categories: dict[str, list[Any]],
                          seed: int, k: int) -> list[Candidate]:
    """Majority class (the training class frequencies as probabilities) and multinomial logistic regression."""
    shares = np.bincount(ytr, minlength=k) / len(ytr)
    features = list(Xtr.columns)
    t0 = time.perf_counter()
    logit = fit_logistic(Xtr, ytr, categories, seed)
    lr_seconds = time.perf_counter() - t0

    def lr_proba(X: pd.DataFrame, prepared: bool = False) -> np.ndarray:
        """Multinomial logistic-regression probabilities (n x K; classes unseen in training get 0)."""
        rows = X if prepared else prepare_features(X, features, categories)
        out = np.zeros((len(rows), k))
        out[:, logit.classes_] = logit.predict_proba(_lr_frame(rows, categories))
        return out

    def majority(X: pd.DataFrame) -> np.ndarray:
        """The training class frequencies for every row (argmax: the majority class)."""
        return np.tile(shares, (len(X), 1))

    params = {"class_shares": shares.round(6).tolist(), "majority_class_index": int(shares.argmax())}
    return [
        Candidate("majority", "baseline", params, majority(Xva), 0.0, baseline=majority, task="multiclass"),
        Candidate("logistic_regression", "baseline", {**content.load("training")["models"]["logistic_regression"], "multinomial": True},
                  lr_proba(Xva, prepared=True), lr_seconds, baseline=lr_proba, task="multiclass", extra={"linear": logit}),
    ]


def _regression_baselines(Xtr: pd.DataFrame, ytr: np.ndarray, Xva: pd.DataFrame,
                          categories: dict[str, list[Any]]) -> list[Candidate]:
    """The training mean (the constant with the lowest squared error) and ridge regression."""
    mean = float(ytr.mean())
    features = list(Xtr.columns)
    t0 = time.perf_counter()
    ridge = fit_ridge(Xtr, ytr, categories)
    seconds = time.perf_counter() - t0

    def ridge_predict(X: pd.DataFrame, prepared: bool = False) -> np.ndarray:
        """Ridge predictions for raw rows, in the target's units."""
        rows = X if prepared else prepare_features(X, features, categories)
        return np.asarray(ridge.predict(_lr_frame(rows, categories)), dtype="float64")

    def constant(X: pd.DataFrame) -> np.ndarray:
        """The training mean for every row."""
        return np.full(len(X), mean)

    return [
        Candidate("mean", "baseline", {"mean": mean}, constant(Xva), 0.0, baseline=constant, task="regression"),
        Candidate("ridge", "baseline", dict(content.load("training")["models"]["ridge"]), ridge_predict(Xva, prepared=True),
                  seconds, baseline=ridge_predict, task="regression", extra={"linear": ridge}),
    ]


def _fit_boosted(algorithm: str, Xtr: pd.DataFrame, ytr: np.ndarray, Xva: pd.DataFrame, yva: np.ndarray, settings: Any,
                 seed: int, weight: float, features: list[str], categories: dict[str, list[Any]], meta: dict[str, Any],
                 costs: dict[str, float] | None = None) -> Candidate:
    """Fit one algorithm (defaults, or the best of a seeded random search, each draw at its own threshold) as a candidate."""
    fit = fit_xgboost if algorithm == "xgboost" else fit_lightgbm
    task = meta["task"]
    names = [booster_name(f) for f in features]  # the boosters get safe names; the model maps them back
    Xtr, Xva_fit = Xtr.set_axis(names, axis=1), Xva.set_axis(names, axis=1)
    space = content.load("training")["tuning_space"][algorithm]
    rng = np.random.default_rng(seed)
    draws = [{}] + [_sample_params(space, rng) for _ in range(settings.tuning.trials)]
    best: tuple[float, Any, dict[str, Any], np.ndarray, float, dict[str, float]] | None = None
    metric = selection_metric(settings, task)
    sign = 1.0 if higher_is_better(metric) else -1.0
    t0 = time.perf_counter()
    tried = 0
    for overrides in draws:  # a handful of parameter sets, not rows
        if settings.tuning.seconds and tried and time.perf_counter() - t0 > settings.tuning.seconds:
            break
        params = model_params(algorithm, overrides, seed, task, len(meta["classes"] or []))
        booster = fit(Xtr, ytr, Xva_fit, yva, params, settings.max_trees, settings.early_stopping_rounds, weight)
        model = ScoringModel(algorithm, booster, features, categories, **meta, booster_features=names)
        proba = model._predict(Xva_fit, raw=False)
        threshold = decision_threshold(yva, proba, costs, settings.threshold) if task == "binary" else 0.5
        metrics = task_metrics(task, yva, proba, threshold)
        score = sign * metrics[metric]
        tried += 1
        if best is None or score > best[0]:
            best = (score, model, params, proba, threshold, metrics)
    _, model, params, proba, threshold, metrics = best
    trees = int(model.booster.num_boosted_rounds()) if algorithm == "xgboost" else int(model.booster.best_iteration or model.booster.current_iteration())
    params = _with_weight(params, weight)
    notes = few_trees_notes(algorithm, trees, settings.max_trees)
    model.info = {"params": params, "trees": trees, "library_version": _version(algorithm), "notes": notes}
    return Candidate(algorithm, "model", params, proba, time.perf_counter() - t0, model=model, trees=trees, trials=tried,
                     notes=notes, metric_cache={metrics_key(yva, threshold): metrics}, task=task)


def few_trees_notes(algorithm: str, trees: int, max_trees: int) -> list[str]:
    """A warning when early stopping kept only a handful of trees (threshold in content), else nothing."""
    few = content.load("training")["early_stopping"]["few_trees"]
    if trees >= min(few, max_trees):
        return []
    return [
        f"{algorithm} kept only {trees} tree(s): early stopping found no validation improvement after that "
        f"(warning below {few} trees). This usually means the features carry no signal beyond the baselines "
        f"in this split, or the validation rows differ from the training rows (a shifted time window). "
        f"Compare it with the baselines and check the split before trusting it"
    ]


@lru_cache(maxsize=None)
def _version(algorithm: str) -> str:
    """Installed version of a model library."""
    from importlib.metadata import version

    return version(algorithm)


def decision_threshold(y_valid: np.ndarray, proba: np.ndarray, costs: dict[str, float] | None,
                       fixed: float | None = None) -> float:
    """The threshold chosen on validation rows: lowest error cost, else highest F1 (or the fixed one)."""
    return fixed if fixed is not None else float(choose_threshold(y_valid, proba, costs)["threshold"])


def set_thresholds(candidates: list[Candidate], y_valid: np.ndarray, costs: dict[str, float] | None,
                   fixed: float | None = None) -> None:
    """Give each binary candidate its decision threshold, chosen on validation (or the fixed one); other tasks have none."""
    for cand in [c for c in candidates if c.task == "binary"]:
        cand.threshold = decision_threshold(y_valid, cand.valid_proba, costs, fixed)
        if cand.model is not None:
            cand.model.threshold = cand.threshold


def select_best(candidates: list[Candidate], y_valid: np.ndarray, metric: str = "roc_auc") -> Candidate:
    """The model candidate (not a baseline) with the best validation ``metric``, each at its own threshold."""
    models = [c for c in candidates if c.kind == "model"]
    if not models:
        raise DataError("training.algorithms: no model candidate was trained; list xgboost and/or lightgbm")
    sign = 1.0 if higher_is_better(metric) else -1.0
    scores = [sign * c.valid_metrics(y_valid)[metric] for c in models]
    return models[int(np.argmax(scores))]


def evaluate(candidates: list[Candidate], X_test: pd.DataFrame | None, y_test: np.ndarray, selection_metric: str = "roc_auc",
             y_valid: np.ndarray | None = None) -> pd.DataFrame:
    """Leaderboard: test metrics of every candidate at its own threshold (plus its validation score), best first
    on the selection metric. ``X_test`` None: each candidate's ``extra["test_proba"]`` is already computed (Dask)."""
    rows = []
    for cand in candidates:
        proba = cand.extra["test_proba"] if X_test is None else cand.scores(X_test)
        cand.extra["test_proba"] = proba
        row = {"candidate": cand.name, "kind": cand.kind, **_board_metrics(cand.task, y_test, proba, cand.threshold)}
        if y_valid is not None:
            row[f"valid_{selection_metric}"] = cand.valid_metrics(y_valid)[selection_metric]
        row.update(threshold=cand.threshold if cand.task == "binary" else None, trees=cand.trees, trials=cand.trials, fit_seconds=round(cand.fit_seconds, 3))
        rows.append(row)
    board = pd.DataFrame(rows)
    # ranked by the validation score that chooses the model (so the chosen booster leads the boosters), test breaks ties
    columns = [c for c in (f"valid_{selection_metric}", _canonical(selection_metric)) if c in board]
    return board.sort_values(columns, ascending=not higher_is_better(selection_metric), kind="stable").reset_index(drop=True)


def _board_metrics(task: str, y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """A leaderboard row's metrics: every binary metric with its counts, else the task's metrics."""
    values = task_metrics(task, y, scores, threshold)
    return values if task == "binary" else {m: values[m] for m in task_metric_names(task)}


def _canonical(metric: str) -> str:
    """The leaderboard column of a metric name (``average_precision`` -> ``pr_auc``)."""
    from kit.tasks import canonical_metric

    return canonical_metric(metric)


def candidate_metrics(cand: Candidate, y_test: np.ndarray, n_boot: int, seed: int, confidence: float) -> pd.DataFrame:
    """Test metrics of one candidate with bootstrap intervals (needs :func:`evaluate` first)."""
    return bootstrap_task_metrics(cand.task, y_test, cand.extra["test_proba"], cand.threshold, n_boot, seed, confidence)
