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

from kit import content
from kit.errors import ArtifactError, DataError
from kit.monitoring import alerts as rules
from kit.monitoring.config import MonitoringSection, period_alias
from kit.monitoring.drift import ReferenceProfile, drift_table, profile_reference
from kit.monitoring.quality import missing_rise, nullable_columns, schema_issues
from kit.monitoring import tasks
from kit.monitoring.scenarios import Batch, Scenario, build_scenario, resampling_note

TARGET = "__target__"


@dataclass
class LazyBatch(Batch):
    """A production batch read lazily (a Parquet folder or glob) on the Dask engine. ``lazy`` holds every row on the
    cluster (features, no target); ``frame`` the rows gathered for retraining: all of them, or a seeded sample
    (``sample`` says which); ``labels`` every row's encoded label (None: unlabelled)."""

    lazy: Any = None
    rows: int = 0
    labels: np.ndarray | None = field(default=None, repr=False)
    sample: dict[str, Any] = field(default_factory=dict)


def batch_rows(batch: Batch) -> int:
    """Rows of a batch (a lazy batch's every row, not only the gathered ones)."""
    return batch.rows if isinstance(batch, LazyBatch) else len(batch.frame)


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
    watched: dict[str, Any] = field(default_factory=dict)
    time_format: str | None = None
    estimator: dict[str, Any] = field(default_factory=lambda: {"task": "binary", "shown": True})
    calendar: list[str] = field(default_factory=list)
    engine: dict[str, Any] = field(default_factory=lambda: {"name": "local"})
    client: Any = field(default=None, repr=False)  # the Dask client (None: local engine)

    @property
    def reference_rows(self) -> int:
        """Rows of the reference (training) split: all of them, also when only a sample was gathered."""
        return int(self.engine.get("reference_rows", len(self.reference)))

    @property
    def task(self) -> str:
        """The watched model's task: binary, multiclass or regression."""
        return tasks.task_of(self.model)

    @property
    def watching_candidate(self) -> bool:
        """Whether the watched model is a candidate (no champion in the registry), not a champion."""
        return self.watched.get("role") != "champion"

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
    task: str = "binary"
    estimate: dict[str, Any] = field(default_factory=dict)
    calendar: list[str] = field(default_factory=list)
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)  # lazy batches: rows gathered for retraining


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
    """Load the model to watch (the registry's champion, else this run's candidate), its data contract,
    the training split (reference = train rows); profile the reference once (per partition on the Dask engine)."""
    from kit.compute.lazy import phase_client
    from kit.training.data import load_split
    from kit.training.scoring import ScoringModel

    client = phase_client(ctx.config)
    if client is not None:
        return load_setup_dask(ctx, client)
    training, champion = _champion(ctx)
    own = ScoringModel.load(Path(ctx.run_dir) / champion["model_dir"])
    X_train, y_train = load_split(ctx, part="train")
    X_valid, y_valid = load_split(ctx, part="valid")
    X_test, y_test = load_split(ctx, part="test")
    model, watched, metrics = watched_model(ctx, champion, own, list(X_train.columns))
    reference = X_train.assign(**{TARGET: y_train})
    d = ctx.config.monitoring.drift
    profile = profile_reference(reference, model.features, d.bins, d.epsilon, d.min_rows_per_bin)
    return _assemble(ctx, training, champion, model, watched, metrics, reference, X_valid.assign(**{TARGET: y_valid}),
                     X_test.assign(**{TARGET: y_test}), profile, tasks.predictions(model, reference)[0])


def _champion(ctx: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The training artifact and its champion record (a champion without a saved model is an ArtifactError)."""
    training = ctx.read("training")
    champion = training.get("champion") or {}
    if not champion.get("model_dir"):
        raise ArtifactError("training artifact: no champion.model_dir; re-run the training phase so a champion is saved")
    return training, champion


def _assemble(ctx: Any, training: dict[str, Any], champion: dict[str, Any], model: Any, watched: dict[str, Any],
              metrics: dict[str, float], reference: pd.DataFrame, validation: pd.DataFrame, held_out: pd.DataFrame,
              profile: Any, reference_scores: np.ndarray, **engine: Any) -> Setup:
    """The Setup from the loaded parts (both engines)."""
    from kit.training.contract import CONTRACT_FILE, load_contract
    from kit.training.data import trained_spec

    settings: MonitoringSection = ctx.config.monitoring
    contract = load_contract(Path(ctx.run_dir) / (training.get("contract") or {}).get("path", f"artifacts/{CONTRACT_FILE}"))
    ranked, _ = rank_features(model, ctx.read("explain", required=False))
    dataset = trained_spec(ctx.run_dir, ctx.config)
    return Setup(
        model=model, champion=champion, test_metrics=metrics, reference=reference,
        held_out=held_out, profile=profile, ranked=ranked, key_features=ranked[: settings.alerts.top_k],
        reference_scores=reference_scores, validation=validation,
        estimator=tasks.fit_estimator(model, validation, held_out, TARGET, settings.performance),
        contract=contract, training=ctx.config.training, costs=training.get("costs"),
        registry={"name": champion.get("model_name") or champion.get("name"), "version": watched.get("version"),
                  "run_version": champion.get("version"),
                  "uri": champion.get("tracking_uri"), "experiment": (training.get("registry") or {}).get("experiment")},
        sensitive=list(dataset.sensitive), target_name=dataset.target, time_column=dataset.time_column, watched=watched,
        time_format=dataset.time_format, calendar=calendar_features_of(model.features, dataset.time_column),
        engine=engine.get("record") or {"name": "local"}, client=engine.get("client"),
    )


# ---------------------------------------------------------------- the Dask engine

def _lazy_splits(ctx: Any, client: Any) -> dict[str, tuple[Any, np.ndarray]]:
    """{part: (X lazy in position order, y)} of the recorded train, valid and test parts (the dataset loaded and
    verified once)."""
    from kit.compute.lazy import load_splits_lazy

    return load_splits_lazy(ctx, client)[0]


def _recorded_positions(ctx: Any, part: str) -> np.ndarray:
    """The recorded row positions of a split part, in the order the local engine reads them."""
    from kit.training.data import read_split_record

    return np.asarray(read_split_record(ctx, part)[0]["positions"][part], dtype=np.int64)


def dask_settings() -> dict[str, Any]:
    """What the Dask engine gathers to the client (kit/content/monitoring.yaml, ``dask``)."""
    return content.load("monitoring")["dask"]


def load_setup_dask(ctx: Any, client: Any) -> Setup:
    """``load_setup`` on the Dask engine: the reference profile and scores computed per partition on the cluster;
    the reference, validation and held-out rows gathered whole when small, else as seeded, stated samples."""
    from kit.compute.drift import gather_partitions, profile_reference_dask
    from kit.training.data import trained_spec
    from kit.training.scoring import ScoringModel

    training, champion = _champion(ctx)
    own = ScoringModel.load(Path(ctx.run_dir) / champion["model_dir"])
    cap, seed = int(dask_settings()["gather_rows"]), int(ctx.config.seed)
    splits = _lazy_splits(ctx, client)
    X_train, y_train = splits["train"]
    model, watched, metrics = watched_model(ctx, champion, own, list(X_train.columns))
    d = ctx.config.monitoring.drift
    profile = profile_reference_dask(X_train, model.features, d.bins, d.epsilon, d.min_rows_per_bin, client)
    scores = _concat(gather_partitions(X_train, _partition_predictions, model, client))[0]
    parts, samples, periods = {}, {}, {}
    time_column = trained_spec(ctx.run_dir, ctx.config).time_column
    for i, part in enumerate(("train", "valid", "test")):
        X, y = splits[part]
        parts[part], samples[SPLIT_ROLE[part]] = gather_rows(X, y, _recorded_positions(ctx, part), cap, seed + i, client)
        if time_column in X.columns and samples[SPLIT_ROLE[part]]["sample"]:  # a sample may miss the first or last day
            periods[SPLIT_ROLE[part]] = time_range(X, time_column, client)
    record = {"name": "dask", "reference_rows": int(len(y_train)),
              "ran_on_cluster": ["reference profile (profile_reference_dask, per partition)",
                                 "reference scores (per partition, gathered)",
                                 "Parquet-folder batches: drift (drift_table_dask), contract checks and scores per partition"],
              "ran_in_process": ["in-memory batches (scenario batches, single files): drift from the same sketch "
                                 "(drift_table_frame), contract checks and scores",
                                 "performance, alerts, retraining and replay on the gathered labels, predictions and rows"],
              "samples": samples, "gather_rows": cap} | ({"time_ranges": periods} if periods else {})
    return _assemble(ctx, training, champion, model, watched, metrics, parts["train"], parts["valid"], parts["test"],
                     profile, scores, record=record, client=client)


SPLIT_ROLE = {"train": "reference", "valid": "validation", "test": "held_out"}


def time_range(X: Any, column: str, client: Any) -> list[str | None]:
    """[first, last] time of a lazy split part's time column (ISO text; None when no value reads as a time)."""
    from kit.compute.drift import gather_partitions

    ends = pd.Series([t for pair in gather_partitions(X, _partition_time_range, column, client) for t in pair])
    ends = ends.dropna()
    return [ends.min().isoformat(), ends.max().isoformat()] if len(ends) else [None, None]


def _partition_time_range(part: pd.DataFrame, column: str) -> tuple[Any, Any]:
    """First and last time of a partition's time column (read as training_overlap reads it)."""
    times = pd.to_datetime(part[column].astype("string"), errors="coerce")
    return times.min(), times.max()


def gather_rows(X: Any, y: np.ndarray, order: np.ndarray, cap: int, seed: int, client: Any
                ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The rows of a lazy split part with their labels (``TARGET``), in the recorded ``order``: all of them when at
    most ``cap``, else a seeded sample of ``cap`` rows (uniform, without replacement); and what was gathered."""
    from kit.compute.drift import gather_partitions

    n = len(y)
    index = np.concatenate(gather_partitions(X, _partition_index, None, client)) if n else np.empty(0, np.int64)
    labels = pd.Series(y, index=index)
    wanted = index if n <= cap else np.sort(np.random.default_rng(seed).choice(index, cap, replace=False))
    rows = pd.concat(gather_partitions(X, _partition_rows, wanted, client))
    keep = order[np.isin(order, wanted)]
    frame = rows.loc[keep].assign(**{TARGET: labels.loc[keep].to_numpy()})
    note = ({"rows": n, "gathered": n, "sample": False} if n <= cap else
            {"rows": n, "gathered": int(cap), "sample": True, "seed": int(seed),
             "method": "uniform without replacement (numpy default_rng(seed).choice over the row positions)"})
    return frame, note


def _partition_index(part: pd.DataFrame, _: Any) -> np.ndarray:
    """A partition's row positions."""
    return part.index.to_numpy(dtype=np.int64)


def _partition_rows(part: pd.DataFrame, wanted: np.ndarray) -> pd.DataFrame:
    """The partition's rows at the ``wanted`` positions."""
    return part[part.index.isin(wanted)]


def _partition_predictions(part: pd.DataFrame, model: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """The watched model's predictions of one partition (``tasks.predictions``)."""
    return tasks.predictions(model, part)


def _concat(pieces: list[tuple[np.ndarray, np.ndarray | None]]) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-partition (values, proba) joined in partition order."""
    values = np.concatenate([p[0] for p in pieces])
    proba = None if pieces[0][1] is None else np.concatenate([p[1] for p in pieces])
    return values, proba


def calendar_features_of(features: list[str], time_column: str | None) -> list[str]:
    """The model's calendar features (e.g. ``datetime_month``): derived from the time column, so they drift by construction."""
    from kit.training.features import CALENDAR_PARTS, calendar_name

    names = {calendar_name(time_column, p) for p in CALENDAR_PARTS} if time_column else set()
    return [f for f in features if f in names]


def registry_figures(metrics: dict[str, float]) -> dict[str, float]:
    """A registry run's accepted test figures ({metric: value}) from its logged ``test_*`` metrics
    (a monitoring challenger's ``window_*`` figures when it has no test figures)."""
    for prefix in ("test_", "window_"):
        found = {k.removeprefix(prefix): float(v) for k, v in metrics.items()
                 if k.startswith(prefix) and not k.endswith(("_low", "_high"))}
        if found:
            return found
    return {}


def watched_model(ctx: Any, champion: dict[str, Any], own: Any, columns: list[str]) -> tuple[Any, dict[str, Any], dict[str, float]]:
    """(model, who it is, its accepted figures): the registry's current champion (downloaded when it is not
    this run's model), else this run's model, plainly labelled a candidate."""
    from kit.training.scoring import ScoringModel

    name, uri, version = champion.get("model_name") or champion.get("name"), champion.get("tracking_uri"), champion.get("version")
    own_figures = test_metrics(champion)
    candidate = {"role": "candidate", "name": name, "version": version, "source": "this run's training phase",
                 "note": f"no champion in the registry: watching this run's candidate ({name} v{version or '-'}, status "
                         f"{champion.get('status', 'candidate')}); its own test figures set the alert lines"}
    if not name or not uri:
        if champion.get("status") == "champion":
            return own, candidate | {"role": "champion", "note": "champion of this run (registry off)"}, own_figures
        return own, candidate | {"note": f"registry off: watching this run's candidate ({champion.get('status', 'candidate')})"}, own_figures
    from kit.training.registry import Registry

    registry = Registry(uri)
    current = registry.current_champion(name)
    if current is None:
        return own, candidate, own_figures
    serving, logged = current
    figures = registry_figures(logged) or (own_figures if str(serving) == str(version) else {})
    if str(serving) == str(version):
        return own, {"role": "champion", "name": name, "version": serving, "source": "this run's training phase",
                     "note": f"this run's model is the registry's champion ({name} v{serving})"}, figures
    folder = Path(ctx.run_dir) / "artifacts" / "watched_champion"
    model = ScoringModel.load(registry.download_model(name, serving, folder))
    missing = [f for f in model.features if f not in columns]
    if missing:
        raise ArtifactError(f"registry champion {name} v{serving}: features {missing[:5]} are not in this run's data; "
                            "train and promote a champion on this dataset, or give this model another name")
    note = (f"watching the registry's champion {name} v{serving} (downloaded); this run's model v{version or '-'} "
            f"is {champion.get('status', 'candidate')}")
    return model, {"role": "champion", "name": name, "version": serving, "source": "registry (downloaded)", "note": note}, figures


def setup_summary(setup: Setup) -> pd.DataFrame:
    """What monitoring compares against, in one small table."""
    m = setup.test_metrics
    role = "champion" if not setup.watching_candidate else "CANDIDATE (no champion)"
    if setup.task == "binary":
        figures = {"threshold": round(float(setup.model.threshold), 4),
                   "accepted test AUC": round(m.get("roc_auc", float("nan")), 4),
                   "accepted test recall": round(m.get("recall", float("nan")), 4)}
    else:
        shown = ("rmse", "mae") if setup.task == "regression" else ("accuracy", "macro_f1")
        figures = {"task": setup.task} | {f"accepted test {k}": round(m.get(k, float("nan")), 4) for k in shown}
    return pd.DataFrame({"value": {
        "watched model": f"{setup.watched.get('name') or '?'} v{setup.watched.get('version') or '?'} ({setup.model.algorithm}), {role}",
        "why this model": setup.watched.get("note", ""),
        **figures,
        "reference rows": setup.reference_rows,
        "held-out rows": len(setup.held_out),
        "key features (top-k)": ", ".join(setup.key_features),
        **engine_rows(setup),
    }})


def engine_rows(setup: Setup) -> dict[str, str]:
    """Where monitoring runs and how drift is computed, as summary rows (the samples gathered, when any)."""
    from kit.compute.drift import GRID

    if setup.engine.get("name") != "dask":
        return {"engine": "local (in-process)", "drift method": "exact (one sort per column)"}
    sampled = [f"{k} {v['gathered']:,} of {v['rows']:,} rows (seed {v['seed']})"
               for k, v in setup.engine.get("samples", {}).items() if v.get("sample")]
    return {"engine": "dask: the reference and Parquet-folder batches per partition on the cluster, "
                      "in-memory batches (scenario batches, single files) in this process",
            "drift method": f"sketch, {GRID} fine bins: KS and Wasserstein within the bounds shown with each figure "
                            "and in the headline",
            "gathered samples": "; ".join(sampled) or "none (all rows gathered)"}


def scenario_batches(setup: Setup, settings: MonitoringSection, seed: int, time_column: str | None = None) -> Scenario:
    """The configured workshop scenario built from the held-out rows (seeded)."""
    spec = settings.scenarios[settings.scenario]
    return build_scenario(
        settings.scenario, spec, setup.held_out, setup.reference, TARGET, setup.ranked, setup.profile.kinds(),
        n_batches=settings.n_batches, batch_size=settings.batch_size, seed=seed, start=settings.start,
        frequency=settings.frequency, labelled=settings.labels, time_column=time_column,
        time_format=setup.time_format if time_column == setup.time_column else None,
        task=setup.task, n_classes=tasks.n_classes(setup.model),
    )


def file_batches(settings: MonitoringSection, target: str, positive_class: Any, model: Any = None,
                 spec: Any = None, client: Any = None, seed: int = 0) -> list[Batch]:
    """Real production batches: one file each, or one file cut by its time column and frequency; each file gets
    the calendar and lag features the model was trained with (``spec``: the trained dataset spec). On the Dask
    engine (``client``) a Parquet folder or glob is a ``LazyBatch`` read lazily; a single file stays in memory."""
    from kit.compute.data import is_parquet_set
    from kit.data import read_table

    source = settings.production
    derive = lambda frame, name: time_features(frame, spec, list(getattr(model, "features", [])), name)  # noqa: E731
    if source.files:
        return [lazy_batch(p, source.read_options, target, positive_class, model, spec, client, seed + i)
                if client is not None and is_parquet_set(p) else
                _labelled(p.stem, derive(read_table(p, source.read_options), p.name), target, positive_class, model)
                for i, p in enumerate(source.files)]
    if client is not None and is_parquet_set(source.path):
        return lazy_period_batches(source, target, positive_class, model, spec, client, seed)
    frame = derive(read_table(source.path, source.read_options), source.path.name)
    if source.time_column not in frame.columns:
        raise DataError(f"monitoring.production.time_column: {source.time_column!r} not in {source.path.name}")
    from kit.timeparse import all_parsed, parse_time

    key = "monitoring.production.time_column"
    stamp = all_parsed(frame[source.time_column], parse_time(frame[source.time_column], source.time_format, key), key)
    periods = stamp.dt.to_period(period_alias(source.frequency))
    groups = list(frame.assign(__stamp__=stamp).groupby(periods, sort=True))
    batches = []
    for i, (key, rows) in enumerate(groups):  # one batch per period (dozens at most)
        batch = _labelled(str(key), rows.drop(columns=[source.time_column, "__stamp__"]).reset_index(drop=True), target,
                          positive_class, model)
        batch.stamps = rows["__stamp__"].reset_index(drop=True)
        batch.partial = _partial(batch.stamps, key, first=i == 0, last=i == len(groups) - 1)
        batches.append(batch)
    return batches


def lazy_batch(path: Path, read_options: dict[str, Any], target: str, positive_class: Any, model: Any, spec: Any,
               client: Any, seed: int) -> LazyBatch:
    """A Parquet folder or glob as one batch on the cluster: rows counted and labels gathered per partition, the
    features left lazy, and the rows for retraining gathered (all, or a seeded sample of ``dask.batch_rows``)."""
    from kit.compute.data import read_lazy
    from kit.compute.drift import gather_partitions

    frame = _lazy_time_features(read_lazy(path, read_options), spec, list(getattr(model, "features", [])), path.name)
    sizes = np.asarray(gather_partitions(frame, _partition_length, None, client), dtype=np.int64)
    raw = _lazy_labels(frame, target, client)
    return _rows_batch(path.stem, frame.drop(columns=[target], errors="ignore"), sizes, np.arange(int(sizes.sum())), raw,
                       model, positive_class, client, seed)


def lazy_period_batches(source: Any, target: str, positive_class: Any, model: Any, spec: Any, client: Any,
                        seed: int) -> list[LazyBatch]:
    """A Parquet folder or glob cut into one batch per period of its time column, as ``file_batches`` cuts one file:
    the time column and the labels gathered, each period's rows left lazy (only the files holding them are read)."""
    from kit.compute.data import read_lazy
    from kit.compute.drift import gather_partitions
    from kit.timeparse import all_parsed, parse_time

    name = source.path.name
    frame = _lazy_time_features(read_lazy(source.path, source.read_options), spec, list(getattr(model, "features", [])), name)
    if source.time_column not in frame.columns:
        raise DataError(f"monitoring.production.time_column: {source.time_column!r} not in {name}")
    sizes = np.asarray(gather_partitions(frame, _partition_length, None, client), dtype=np.int64)
    times = pd.concat(gather_partitions(frame, _partition_column, source.time_column, client), ignore_index=True)
    key = "monitoring.production.time_column"
    stamp = all_parsed(times, parse_time(times, source.time_format, key), key)
    periods = stamp.dt.to_period(period_alias(source.frequency))
    raw = _lazy_labels(frame, target, client)
    features = frame.drop(columns=[source.time_column, target], errors="ignore")
    groups = list(pd.Series(np.arange(len(stamp))).groupby(periods, sort=True))
    batches = []
    for i, (key, positions) in enumerate(groups):  # one batch per period (dozens at most)
        rows = positions.to_numpy()
        batch = _rows_batch(str(key), features, sizes, rows, raw, model, positive_class, client, seed + i)
        batch.stamps = stamp.iloc[rows].reset_index(drop=True).rename("__stamp__")  # as file_batches names them
        batch.partial = _partial(batch.stamps, key, first=i == 0, last=i == len(groups) - 1)
        batches.append(batch)
    return batches


def _lazy_labels(frame: Any, target: str, client: Any) -> pd.Series | None:
    """The target column of every row, gathered (None when the files have none)."""
    from kit.compute.drift import gather_partitions

    if target not in frame.columns:
        return None
    return pd.concat(gather_partitions(frame, _partition_column, target, client), ignore_index=True)


def _rows_batch(name: str, frame: Any, sizes: np.ndarray, rows: np.ndarray, raw: pd.Series | None, model: Any,
                positive_class: Any, client: Any, seed: int) -> LazyBatch:
    """A LazyBatch of the rows at sorted global positions ``rows``: lazy on the cluster, labels encoded when every row
    has one, and the rows for retraining gathered (all, or a seeded sample of ``dask.batch_rows``)."""
    cap, n = int(dask_settings()["batch_rows"]), len(rows)
    whole = n == int(sizes.sum())
    labels = None
    if raw is not None and not raw.iloc[rows].isna().any():
        labels = encode_labels(raw.iloc[rows].reset_index(drop=True), model, positive_class, name)
    chosen = np.arange(n) if n <= cap else np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))
    kept = _take_positions(frame, sizes, rows[chosen], client)
    sample = ({"rows": n, "gathered": n, "sample": False} if n <= cap else
              {"rows": n, "gathered": cap, "sample": True, "seed": int(seed),
               "method": "uniform without replacement over the batch's rows"})
    if labels is not None:
        kept = kept.assign(**{TARGET: labels[chosen]})
    lazy = frame if whole else _lazy_rows(frame, sizes, rows)
    missing = int(raw.iloc[rows].isna().sum()) if raw is not None else 0
    blank = missing if labels is None and missing < n else 0
    return LazyBatch(name, kept, labelled=labels is not None, lazy=lazy, rows=n, labels=labels, sample=sample,
                     blank_labels=blank)


def _lazy_rows(frame: Any, sizes: np.ndarray, rows: np.ndarray) -> Any:
    """A Dask DataFrame of the rows at sorted global positions ``rows``, over the partitions that hold any."""
    import dask
    import dask.dataframe as dd

    starts = np.concatenate([[0], np.cumsum(sizes)])
    pieces = [dask.delayed(_partition_take)(part, rows[(rows >= a) & (rows < b)] - a)
              for part, a, b in zip(frame.to_delayed(), starts[:-1], starts[1:]) if ((rows >= a) & (rows < b)).any()]
    return dd.from_delayed(pieces, meta=frame._meta, verify_meta=False) if pieces else dd.from_pandas(frame._meta, npartitions=1)


def _lazy_time_features(frame: Any, spec: Any, features: list[str], name: str) -> Any:
    """The model's calendar features added per partition; lag features must be in the files (they need history
    across rows, which a partitioned batch does not keep in order), else a DataError naming the fix."""
    if spec is None or not spec.time_column and not spec.lags:
        return frame
    from kit.training.features import lag_name

    lags = [lag_name(spec.lags.column, k) for k in spec.lags.periods] if spec.lags else []
    needed = [c for c in lags if c in features and c not in frame.columns]
    if needed:
        raise DataError(f"monitoring.production {name}: the model uses the lag features {needed}, which a Parquet "
                        "folder batch must carry as columns (history across files is not kept in order); add them to "
                        "the files, or give the batch as one file")
    meta = time_features(frame._meta_nonempty, spec, features, name).iloc[:0]
    return frame.map_partitions(time_features, spec, features, name, meta=meta)


def _partition_length(part: pd.DataFrame, _: Any) -> int:
    """Rows of a partition."""
    return len(part)


def _partition_column(part: pd.DataFrame, name: str) -> pd.Series:
    """One column of a partition."""
    return part[name]


def _partition_take(part: pd.DataFrame, local: np.ndarray) -> pd.DataFrame:
    """A partition's rows at the given positions inside it."""
    return part.iloc[local]


def _take_positions(frame: Any, sizes: np.ndarray, chosen: np.ndarray, client: Any) -> pd.DataFrame:
    """The rows at sorted global ``chosen`` positions (partitions in order), gathered; index 0..len-1."""
    import dask

    starts = np.concatenate([[0], np.cumsum(sizes)])
    tasks_ = [dask.delayed(_partition_take)(part, chosen[(chosen >= a) & (chosen < b)] - a)
              for part, a, b in zip(frame.to_delayed(), starts[:-1], starts[1:])]
    pieces = client.gather(client.compute(tasks_)) if client is not None else dask.compute(*tasks_, scheduler="sync")
    return pd.concat(pieces, ignore_index=True)


def time_features(frame: pd.DataFrame, spec: Any, features: list[str], name: str) -> pd.DataFrame:
    """A production file with the model's calendar features (the training function, from the time column) and its
    lag features: kept when the file has them, computed when it carries the lagged column's history, else a DataError."""
    from kit.training.features import add_time_features, calendar_features, lag_name

    if spec is None or not spec.time_column and not spec.lags:
        return frame
    calendar = [p for p in _calendar_parts(features, spec.time_column) if _cal(spec.time_column, p) not in frame.columns]
    lags = [lag_name(spec.lags.column, k) for k in spec.lags.periods] if spec.lags else []
    needed = [c for c in lags if c in features and c not in frame.columns]
    if (calendar or needed) and spec.time_column and spec.time_column not in frame.columns:
        raise DataError(f"monitoring.production {name}: the model uses features of the time column {spec.time_column!r} "
                        f"({', '.join([_cal(spec.time_column, p) for p in calendar] + needed)}), which the file lacks; "
                        f"add {spec.time_column!r} (or those feature columns) to the file")
    if needed and spec.lags.column not in frame.columns:
        raise DataError(f"monitoring.production {name}: the model uses the lag features {needed} of "
                        f"{spec.lags.column!r}, which the file has neither as columns nor as history; include the lag "
                        f"columns in the file, or include {spec.lags.column!r} with at least {max(spec.lags.periods)} "
                        f"steps of history before the rows to monitor (rows without full history are dropped)")
    if needed:  # the training function itself: calendar parts and lags, rows without full history dropped
        derived = spec.model_copy(update={"calendar": calendar or None, "lags": spec.lags})
        out, _ = add_time_features(frame.drop(columns=[c for c in lags if c in frame.columns]), derived)
        return out
    if calendar:
        from kit.training.features import _stamps

        return pd.concat([frame, calendar_features(_stamps(frame, spec), spec.time_column, calendar)], axis=1)
    return frame


def _cal(time_column: str, part: str) -> str:
    """Calendar feature name (kit.training.features.calendar_name)."""
    from kit.training.features import calendar_name

    return calendar_name(time_column, part)


def _calendar_parts(features: list[str], time_column: str | None) -> list[str]:
    """The calendar parts whose features the model uses."""
    from kit.training.features import CALENDAR_PARTS

    return [p for p in CALENDAR_PARTS if time_column and _cal(time_column, p) in features]


def _partial(stamps: pd.Series, period: pd.Period, first: bool, last: bool) -> bool:
    """Whether the data covers only part of a first or last period (it starts after the period's first day
    or ends before its last day)."""
    starts_late = first and stamps.min().normalize() > period.start_time.normalize()
    ends_early = last and stamps.max().normalize() < period.end_time.normalize()
    return bool(starts_late or ends_early)


def no_labels(batch: Batch) -> str:
    """Why a batch's performance is not measured for want of labels (naming rows left blank among labelled ones)."""
    blank = getattr(batch, "blank_labels", 0)
    if not blank:
        return "no labels"
    return (f"no labels: {blank} of {batch_rows(batch)} rows have none (a batch is measured only when every row has "
            "its label; fill them or leave the batch's labels out)")


def _labelled(name: str, frame: pd.DataFrame, target: str, positive_class: Any, model: Any = None) -> Batch:
    """A batch with labels encoded like training's (binary 0/1, multiclass class index, regression float), when every
    row has one (else it counts as unlabelled)."""
    if target not in frame.columns or frame[target].isna().any():
        blank = int(frame[target].isna().sum()) if target in frame.columns and frame[target].notna().any() else 0
        return Batch(name, frame.drop(columns=[target], errors="ignore"), labelled=False, blank_labels=blank)
    y = encode_labels(frame[target], model, positive_class, name)
    return Batch(name, frame.drop(columns=[target]).assign(**{TARGET: y}), labelled=True)


def encode_labels(labels: pd.Series, model: Any, positive_class: Any, batch: str = "") -> np.ndarray:
    """Production labels encoded as in training: binary 0/1, multiclass the class index of the model's classes,
    regression float64; a class the model never saw, or a number that is not one, is a DataError naming it."""
    task = tasks.task_of(model)
    if task == "regression":
        values = pd.to_numeric(labels, errors="coerce")
        if values.isna().any():
            raise DataError(f"production batch {batch}: target {labels.name!r} holds {labels[values.isna()].iloc[0]!r}, "
                            "not a number; a regression model needs numeric labels (leave unknown ones empty)")
        return values.to_numpy(dtype=np.float64)
    if task == "multiclass":
        known = pd.Index([str(c) for c in model.classes])
        codes = known.get_indexer(labels.astype(str))
        if (codes < 0).any():
            new = sorted(set(labels.astype(str)[codes < 0]))[:5]
            raise DataError(f"production batch {batch}: target {labels.name!r} has classes {new} the model never saw "
                            f"(it knows {list(known)}); retrain on data that has them, or leave those labels empty")
        return codes.astype(np.int64)
    from kit.training.data import labels_to_binary

    unknown_labels(labels, positive_class, getattr(model, "negative_class", None), batch)
    return labels_to_binary(labels, positive_class)


def unknown_labels(labels: pd.Series, positive: Any, negative: Any, batch: str) -> None:
    """A DataError naming production labels that are neither of the binary model's classes (they would count as
    negatives); nothing when ``negative`` is unknown."""
    from kit.training.data import whole_numbers

    if negative is None:
        return
    known = pd.Index([str(positive).strip(), str(negative).strip()])
    text = whole_numbers(labels).astype("string").str.strip()
    other = text[~text.isin(known)]
    if other.empty:
        return
    values = sorted(set(other))[:5]
    folded = set(other.str.casefold()) <= set(known.str.casefold())
    hint = " (they differ from them only in upper and lower case)" if folded else ""
    raise DataError(f"production batch {batch}: target {labels.name!r} holds {values} in {len(other)} rows, neither "
                    f"class the model knows ({known[0]!r} or {known[1]!r}){hint}; write the labels as in training, "
                    "or leave unknown ones empty")


def production_batches(ctx: Any, setup: Setup) -> tuple[list[Batch], pd.DataFrame | None]:
    """Batches from real files when configured, else from the named scenario (with its injection log)."""
    settings: MonitoringSection = ctx.config.monitoring
    if settings.production is not None:
        from kit.training.data import trained_spec

        spec = trained_spec(ctx.run_dir, ctx.config)
        return file_batches(settings, setup.target_name, setup.model.positive_class, setup.model, spec,
                            setup.client, ctx.config.seed), None
    scenario = scenario_batches(setup, settings, ctx.config.seed, setup.time_column)
    return scenario.batches, scenario.injections


def training_overlap(setup: Setup, batches: list[Batch], synthetic: bool = False) -> dict[str, Any]:
    """Production rows whose time falls inside the training split's time range (train, validation and test rows;
    a warning: those rows are not new, so drift and performance on them flatter the model). Workshop scenario batches
    (``synthetic``) are drawn from the held-out test rows by design, so they are checked against train and validation."""
    column = setup.time_column
    if not column or column not in setup.reference.columns:
        return {"checked": False, "overlapping_rows": 0, "warning": None,
                "detail": "not checked: the training data has no time column (dataset.time_column)"}
    parts = (setup.reference, setup.validation) if synthetic else (setup.reference, setup.validation, setup.held_out)
    split = pd.concat([f[column] for f in parts if column in f.columns])
    trained = pd.to_datetime(split.astype("string"), errors="coerce")
    start, end = trained.min(), trained.max()
    sampled = setup.engine.get("time_ranges", {})  # Dask: a sampled part's whole range, computed on the cluster
    roles = ("reference", "validation") if synthetic else ("reference", "validation", "held_out")
    ends = [pd.Timestamp(t) for r in roles for t in sampled.get(r, []) if t is not None]
    if ends:
        start, end = pd.Series([start, *ends]).min(), pd.Series([end, *ends]).max()
    stamps = {b.name: _batch_times(b, column) for b in batches}
    per_batch = {name: int(t.between(start, end).sum()) for name, t in stamps.items() if t is not None}
    if not per_batch:
        return {"checked": False, "overlapping_rows": 0, "warning": None,
                "detail": "not checked: the production batches carry no times"}
    total = int(sum(per_batch.values()))
    hit = {k: v for k, v in per_batch.items() if v}
    warning = (f"{total:,} production rows fall inside the training period ({start.date()} to {end.date()}), in batches "
               f"{', '.join(hit)}: they are not new data, so drift and performance on them look better than they are; "
               "send only rows after the training period") if total else None
    return {"checked": True, "training_period": [start.isoformat(), end.isoformat()], "overlapping_rows": total,
            "batches": hit, "warning": warning, "detail": warning or f"no production row inside the training period ({start.date()} to {end.date()})"}


def _batch_times(batch: Batch, column: str) -> pd.Series | None:
    """A batch's row times: its stamps, else the dataset's time column when the batch carries it."""
    if batch.stamps is not None:
        return batch.stamps
    if column in batch.frame.columns:
        return pd.to_datetime(batch.frame[column].astype("string"), errors="coerce")
    return None


def monitor_batch(setup: Setup, batch: Batch, settings: MonitoringSection, seed: int, score_profile: Any) -> dict[str, Any]:
    """Quality, drift, predictions, performance and alerts of one batch."""
    usable, issues = batch_quality(setup, batch, settings.alerts)
    drift = batch_drift(setup, batch, usable, settings.drift.fdr_alpha) if usable else pd.DataFrame()
    issues += missing_rise(setup.profile, drift, setup.nullable, settings.alerts)
    labelled = batch.labelled and TARGET in batch.frame
    y = (batch.labels if isinstance(batch, LazyBatch) else batch.frame[TARGET].to_numpy()) if labelled else None
    counts = tasks.label_counts(setup.task, y, tasks.n_classes(setup.model))
    out: dict[str, Any] = {"drift": drift, "issues": issues, "measured": None, "expected": None, "score": None,
                           "counts": counts, "performance": no_labels(batch) if y is None else "not scored"}
    if len(usable) == len(setup.profile.features) and batch_rows(batch):
        values, proba = batch_predictions(setup, batch)
        out["score"] = tasks.prediction_drift(score_profile, values, setup.profile.epsilon)
        out["expected"] = tasks.expected_figures(setup.estimator, values, proba, setup.model.threshold)
        if y is not None:
            p = settings.performance
            out["performance"] = tasks.evidence(setup.task, counts, p)
            if out["performance"] == "measured":
                out["measured"] = tasks.measure(setup.model, y, values, p, seed)
    return out


def batch_quality(setup: Setup, batch: Batch, settings: Any) -> tuple[list[str], list[dict[str, object]]]:
    """Usable features and data-quality findings: the contract checked on the batch (a lazy one per partition by
    kit.compute.checks.validate_dask: the same counts and examples as one validation)."""
    if not isinstance(batch, LazyBatch):
        return schema_issues(setup.profile, setup.contract, batch.frame, settings)
    from kit.compute.checks import validate_dask
    from kit.monitoring.quality import STRUCTURAL, contract_issues, issue, text_in_numeric

    if batch.rows == 0:
        return [], [issue("empty_batch", None, 0.0, 1.0, "the batch has no rows")]
    report = validate_dask(setup.contract, batch.lazy, setup.client)
    found = contract_issues(report.failures, report.rows, settings)
    flagged = {(i["check"], i["feature"]) for i in found}
    found += [i for i in text_in_numeric(setup.profile, batch.frame) if (i["check"], i["feature"]) not in flagged]
    broken = {i["feature"] for i in found if i["check"] in STRUCTURAL}
    return [n for n in setup.profile.features if n not in broken], found


def batch_drift(setup: Setup, batch: Batch, usable: list[str], alpha: float) -> pd.DataFrame:
    """The batch's drift table: exact on the local engine; on Dask from the sketch (a lazy batch per partition on
    the cluster, an in-memory one in process: the same figures for the same rows)."""
    from kit.monitoring.drift import ReferenceProfile

    if isinstance(setup.profile, ReferenceProfile):
        return drift_table(setup.profile, batch.frame, usable, alpha)
    from kit.compute.drift import drift_table_dask, drift_table_frame

    if isinstance(batch, LazyBatch):
        return drift_table_dask(setup.profile, batch.lazy, usable, alpha, setup.client)
    return drift_table_frame(setup.profile, batch.frame, usable, alpha)


def batch_predictions(setup: Setup, batch: Batch) -> tuple[np.ndarray, np.ndarray | None]:
    """The watched model's predictions of every row of the batch (a lazy one scored per partition, gathered)."""
    if not isinstance(batch, LazyBatch):
        return tasks.predictions(setup.model, batch.frame)
    from kit.compute.drift import gather_partitions

    return _concat(gather_partitions(batch.lazy, _partition_predictions, setup.model, setup.client))


def few_rows(alerts: list[dict[str, object]], rows: int, drift: Any) -> list[dict[str, object]]:
    """Drift alerts of a batch too small to judge a shift (fewer rows than bins x min_rows_per_bin) kept as info."""
    needed = drift.bins * drift.min_rows_per_bin
    if rows >= needed:
        return alerts
    note = f" (on {rows} rows, fewer than bins x min_rows_per_bin = {needed}: too few to judge a shift)"
    return [a | {"severity": "info", "message": f"{a['message']}{note}"} for a in alerts]


def monitor(setup: Setup, batches: list[Batch], settings: MonitoringSection, seed: int = 0) -> Monitoring:
    """Monitor every batch against the reference; a bad batch becomes alerts, never a stop."""
    score_profile = tasks.prediction_profile(setup.model, setup.reference_scores, settings.drift.bins)
    thresholds = rules.task_thresholds(setup.task, setup.test_metrics, settings.alerts)
    results = {b.name: monitor_batch(setup, b, settings, seed + i, score_profile) for i, b in enumerate(batches)}
    rows = {b.name: batch_rows(b) for b in batches}
    log = [
        a for name, r in results.items() for a in (
            rules.quality_alerts(name, r["issues"], settings.alerts)
            + few_rows(rules.drift_alerts(name, r["drift"], setup.key_features, settings.alerts, exempt=setup.calendar)
                       + rules.prediction_alerts(name, r["score"], settings.alerts), rows[name], settings.drift)
            + rules.task_performance_alerts(name, r["measured"], thresholds, settings.alerts, setup.task))
    ]
    counts = ["positives", "negatives"] if setup.task == "binary" else ["labelled_rows"]
    summary = pd.DataFrame({
        "batch": [b.name for b in batches], "rows": [batch_rows(b) for b in batches],
        "partial_period": [b.partial for b in batches],
        "labelled": [b.labelled for b in batches],
        **{k: [results[b.name]["counts"][k] for b in batches] for k in counts},
        "scored": [results[b.name]["score"] is not None for b in batches],
        "performance": [results[b.name]["performance"] for b in batches],
        "quality_issues": [len(results[b.name]["issues"]) for b in batches],
    })
    measured = _frame({n: r["measured"] for n, r in results.items() if r["measured"]})
    expected = _frame({n: r["expected"] for n, r in results.items() if r["expected"]})
    estimate = tasks.estimate_note(setup.estimator, measured, expected, settings.performance.estimate_tolerance)
    return Monitoring(
        batches=summary,
        drift={n: mark_calendar(r["drift"], setup.calendar) for n, r in results.items()},
        score_drift=_frame({n: r["score"] for n, r in results.items() if r["score"]}),
        quality=pd.DataFrame([{"batch": n, **i} for n, r in results.items() for i in r["issues"]],
                             columns=["batch", "check", "feature", "value", "threshold", "detail"]),
        measured=measured,
        expected=shown_estimates(setup.task, expected, estimate),
        alerts=rules.alert_log(log),
        thresholds=thresholds,
        task=setup.task,
        estimate=estimate,
        calendar=list(setup.calendar),
        samples={b.name: b.sample for b in batches if isinstance(b, LazyBatch)},
    )


def mark_calendar(drift: pd.DataFrame, calendar: list[str]) -> pd.DataFrame:
    """The drift table with a ``note`` column: why a calendar feature's drift is reported but never alerted on."""
    if drift.empty:
        return drift
    why = content.load("monitoring")["drift"]["calendar_note"]
    return drift.assign(note=np.where(drift.index.isin(calendar), why, ""))


def shown_estimates(task: str, expected: pd.DataFrame, estimate: dict[str, Any]) -> pd.DataFrame:
    """The label-free figures that passed their cross-check (binary: all, as before; none: an empty frame)."""
    if task == "binary":
        return expected
    if not estimate["shown"] or expected.empty:
        return expected.iloc[:0]
    return expected[estimate["metrics"]]


def _frame(rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Batch -> values as a frame indexed by batch."""
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "batch"
    return frame


def psi_matrix(result: Monitoring) -> pd.DataFrame:
    """PSI per feature (rows) and batch (columns)."""
    return pd.DataFrame({b: d["psi"] for b, d in result.drift.items() if not d.empty})


def worst(result: Monitoring) -> tuple[str | None, str | None, float]:
    """The batch and feature with the highest PSI, and that PSI (calendar features aside: they drift by construction)."""
    matrix = psi_matrix(result)
    keep = [f for f in matrix.index if f not in result.calendar]
    matrix = matrix.loc[keep] if keep else matrix
    if matrix.empty or matrix.isna().all().all():
        return None, None, float("nan")
    stacked = matrix.stack()
    feature, batch = stacked.idxmax()
    return str(batch), str(feature), float(stacked.max())


def measure_latency(model: Any, frame: pd.DataFrame, rows: int = 1000, repeats: int = 20, budget_ms: float = 100.0) -> dict[str, float]:
    """Scoring time per 1,000 rows over repeated calls: p50, p95, p99 against the budget."""
    sample = frame.iloc[np.arange(rows) % len(frame)]
    score = model.predict if tasks.task_of(model) == "regression" else model.predict_proba
    score(sample)  # warm-up: first call pays one-off costs
    timings = np.empty(repeats)
    for i in range(repeats):  # timing repeats, not a loop over rows
        start = time.perf_counter()
        score(sample)
        timings[i] = (time.perf_counter() - start) * 1000 * 1000 / rows
    p50, p95, p99 = np.percentile(timings, [50, 95, 99])
    return {"rows": rows, "repeats": repeats, "p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99),
            "budget_ms": float(budget_ms), "within_budget": bool(p99 <= budget_ms)}


def _has_quality_failure(result: Monitoring, batch: str) -> bool:
    """Whether a batch had a critical data-quality alert (such batches are never trained on)."""
    log = result.alerts
    return bool(((log["batch"] == batch) & (log["rule"] == "data_quality") & (log["severity"] == "critical")).any())


def size_problem(batch: Batch, cfg: Any, full_rows: float) -> str | None:
    """Why a batch is too small to drive a decision (None when big enough): below min_batch_rows, or a partial
    period with less than partial_min_share of a full period's rows (the median full batch)."""
    rows = batch_rows(batch)
    if rows < cfg.min_batch_rows:
        return f"{rows} rows{' (partial period)' if batch.partial else ''} < min_batch_rows {cfg.min_batch_rows}"
    if batch.partial and np.isfinite(full_rows) and rows < cfg.partial_min_share * full_rows:
        return (f"partial period: {rows} rows < {cfg.partial_min_share:g} x {full_rows:.0f} (a full period's median rows, "
                "retraining.partial_min_share)")
    return None


def full_period_rows(batches: list[Batch]) -> float:
    """Median rows of the batches that cover their whole period (NaN when none does)."""
    full = [batch_rows(b) for b in batches if not b.partial]
    return float(np.median(full)) if full else float("nan")


def decision_ready(batch: Batch, result: Monitoring, settings: MonitoringSection, full_rows: float = float("nan")) -> bool:
    """Whether a batch may train or judge a challenger: big enough, measured labels of both classes, no broken data."""
    return (size_problem(batch, settings.retraining, full_rows) is None and batch.name in result.measured.index
            and not _has_quality_failure(result, batch.name))


def _serving_setup(setup: Setup, model: Any, rows: pd.DataFrame, figures: dict[str, float], settings: MonitoringSection) -> Setup:
    """The setup after a promotion: the challenger watched against the rows it was trained on."""
    from dataclasses import replace

    from kit.monitoring.drift import ReferenceProfile

    d = settings.drift
    if isinstance(setup.profile, ReferenceProfile):
        profile = profile_reference(rows, model.features, d.bins, d.epsilon, d.min_rows_per_bin)
    else:  # the Dask engine: the same sketch as its reference, of the (gathered) rows the challenger learned from
        import dask
        import dask.dataframe as dd

        from kit.compute.drift import profile_reference_dask

        with dask.config.set({"dataframe.convert-string": False}):  # text stays as the local engine reads it
            lazy = dd.from_pandas(rows, npartitions=1)
        profile = profile_reference_dask(lazy, model.features, d.bins, d.epsilon, d.min_rows_per_bin)
    return replace(setup, model=model, reference=rows, profile=profile, test_metrics=figures,
                   reference_scores=tasks.predictions(model, rows)[0], engine=setup.engine | {"reference_rows": len(rows)})


def retrain(setup: Setup, batches: list[Batch], result: Monitoring, settings: MonitoringSection, seed: int = 0) -> dict[str, Any]:
    """Walk-forward replay: at each batch the trigger rules are evaluated for the model serving then; when one
    fires, a challenger learns from what was known then (training rows + labelled batches so far) and is judged
    against the serving model on the next full window. Bounded by max_challengers and a cool-down."""
    from kit.monitoring.retraining import fired_rules

    cfg = settings.retraining
    names = [b.name for b in batches]
    full_rows = full_period_rows(batches)
    ready = {b.name: decision_ready(b, result, settings, full_rows) for b in batches}
    state = {"setup": setup, "alerts": result.alerts, "since": None}
    events, challengers, last, promoted, next_allowed = [], 0, None, None, 0
    for i, batch in enumerate(batches):  # one step per batch (dozens at most)
        fired = fired_rules(state["alerts"], batch.name, cfg.trigger_rules)
        if not fired:
            continue
        event = {"batch": batch.name, "rows": batch_rows(batch), "partial_period": batch.partial, "fired": ", ".join(fired),
                 "serving": state["since"] or "original", "trained_on": "", "judged_on": "", "serving_score": np.nan,
                 "challenger_score": np.nan, "delta": np.nan, "original_score": np.nan, "vs_original": np.nan}
        window = [b for b in batches[i + 1:] if ready[b.name]][: cfg.evaluation_batches]
        learn = [b for b in batches[: i + 1] if ready[b.name]]
        skip = _skip_reason(batch, cfg, i, next_allowed, challengers, window, learn, size_problem(batch, cfg, full_rows))
        if skip:
            events.append(event | {"decision": skip[0], "reason": skip[1]})
            continue
        outcome = challenge(setup, state["setup"].model, learn, window, settings, seed + i)
        challengers, next_allowed = challengers + 1, i + 1 + cfg.cooldown_batches
        last = outcome | {"at": batch.name}
        events.append(event | {"decision": outcome["decision"], "reason": outcome["reason"],
                               "trained_on": ", ".join(b.name for b in learn), "judged_on": ", ".join(outcome["evaluated_on"]),
                               "serving_score": outcome["comparison"].loc[outcome["metric"], "champion"],
                               "challenger_score": outcome["comparison"].loc[outcome["metric"], "challenger"], "delta": outcome["gain"],
                               "original_score": outcome["original_score"], "vs_original": outcome["vs_original"]})
        if outcome["decision"] == "promote":
            promoted = last
            figures = outcome["comparison"]["challenger"].to_dict()
            new = _serving_setup(state["setup"], outcome["challenger"], outcome["rows"], figures, settings)
            rest = monitor(new, batches[i + 1:], settings, seed + i)
            state = {"setup": new, "alerts": rest.alerts, "since": f"challenger of {batch.name}"}
    timeline = pd.DataFrame(events, columns=TIMELINE)
    return summarize_replay(timeline, promoted or last, cfg.enabled, names)


TIMELINE = ["batch", "rows", "partial_period", "fired", "serving", "decision", "trained_on", "judged_on",
            "serving_score", "challenger_score", "delta", "original_score", "vs_original", "reason"]


def _skip_reason(batch: Batch, cfg: Any, i: int, next_allowed: int, challengers: int,
                 window: list[Batch], learn: list[Batch], too_small: str | None) -> tuple[str, str] | None:
    """Why no challenger is trained at this batch (None: train one)."""
    if not cfg.enabled:
        return "disabled", "retraining is disabled in the config"
    if too_small:
        return "too small", f"{too_small}: not used for decisions"
    if challengers >= cfg.max_challengers:
        return "budget spent", f"already {challengers} challenger(s) in this replay (max_challengers {cfg.max_challengers})"
    if i < next_allowed:
        return "cool-down", f"within {cfg.cooldown_batches} batch(es) of the last decision"
    if not learn:
        return "no new labels", "no labelled batch with enough rows of both classes to learn from yet"
    if not window:
        return "pending", "no later full labelled batch to judge a challenger on yet"
    return None


def summarize_replay(timeline: pd.DataFrame, chosen: dict[str, Any] | None, enabled: bool, names: list[str]) -> dict[str, Any]:
    """The replay as one outcome: the timeline, and the decision that leaves the final model serving."""
    trained = timeline[timeline["decision"].isin(["promote", "keep"])]
    promotions = timeline.loc[timeline["decision"] == "promote", "batch"].tolist()
    out: dict[str, Any] = {"triggered": not timeline.empty, "timeline": timeline, "challengers": len(trained),
                           "promotions": promotions, "challenger": None}
    if timeline.empty:
        return out | {"decision": "none", "reason": "no retraining rule fired in any batch"}
    if chosen is None:
        why = "; ".join(f"{r.batch}: {r.decision} ({r.reason})" for r in timeline.tail(3).itertuples())
        return out | {"decision": "none" if not enabled else "keep",
                      "reason": f"rules fired in {len(timeline)} batch(es) but no challenger was trained; {why}"}
    text = (f"the champion would have changed at {', '.join(promotions)}" if promotions
            else "the champion would never have changed")
    steps = trained.loc[trained["decision"] == "promote", "delta"]
    each = (f"each promotion against the model it replaced: {', '.join(f'{d:+.3f}' for d in steps)}; " if len(steps) else "")
    final = trained.loc[trained["batch"] == chosen["at"]].iloc[0]
    against = (f"the {'promoted' if promotions else 'last'} challenger against never retraining (the original model) "
               f"on {final['judged_on']}: {final['vs_original']:+.3f} {chosen['metric']}")
    worse = (" Warning: it is worse than the original model there, so rolling back to the original would serve "
             "better than this chain of promotions." if promotions and final["vs_original"] < 0 else "")
    reason = (f"walk-forward replay over {len(names)} batches: {len(timeline)} batch(es) fired a rule, "
              f"{len(trained)} challenger(s) trained, {text} ({each}{against}). Decision at {chosen['at']}: "
              f"{chosen['reason'].rstrip('.')}.{worse}")
    keep = {k: v for k, v in chosen.items() if k not in ("rows",)}
    return out | keep | {"decision": "promote" if promotions else "keep", "reason": reason}


def challenge(setup: Setup, serving: Any, learn: list[Batch], window: list[Batch], settings: MonitoringSection, seed: int) -> dict[str, Any]:
    """Train a challenger on the original training rows + ``learn`` batches; compare it with the serving model on ``window``."""
    from kit.monitoring.retraining import decide, extend_split, fairness_gap, train_challenger
    from kit.training.metrics import compute_metrics, metric_name

    cfg = settings.retraining
    new = pd.concat([b.frame for b in learn], ignore_index=True)
    base = setup.reference.drop(columns=[TARGET])
    parts = extend_split(base, setup.reference[TARGET].to_numpy(),
                         setup.validation.drop(columns=[TARGET]), setup.validation[TARGET].to_numpy(),
                         new.drop(columns=[TARGET])[base.columns.intersection(new.columns)], new[TARGET].to_numpy(),
                         setup.training.valid_size, seed)
    meta = {"target": setup.model.target, "positive_class": setup.model.positive_class, "negative_class": setup.model.negative_class}
    if setup.task != "binary":
        meta = {"target": setup.model.target, "task": setup.task, "classes": setup.model.classes}
    challenger, candidates = train_challenger(*parts, setup.model.features, setup.training, setup.costs, seed, meta)
    frame = pd.concat([b.frame for b in window], ignore_index=True)
    y = frame[TARGET].to_numpy()
    models = {"champion": serving, "challenger": challenger}
    if setup.task != "binary":
        judged = _task_challenge(setup, models, frame, y, cfg)
        return judged | against_original(setup, judged, frame, y) | {
            "candidates": candidates.reset_index(names="candidate"), "algorithm": challenger.algorithm,
            "trained_on": {"reference_rows": len(setup.reference), "validation_rows": len(setup.validation),
                           "batches": [b.name for b in learn], "fit_rows": len(parts[1]), "valid_rows": len(parts[3])},
            "evaluated_on": [b.name for b in window], "challenger": challenger, "rows": parts[0].assign(**{TARGET: parts[1]})}
    metric = metric_name(cfg.metric)
    scores = {k: m.predict_proba(frame) for k, m in models.items()}
    metrics = {k: compute_metrics(y, scores[k], m.threshold) for k, m in models.items()}
    gaps = {k: fairness_gap(y, (scores[k] >= m.threshold).astype(int), frame, setup.sensitive, cfg.fairness_min_group)
            for k, m in models.items()}
    verdict = decide(metrics["champion"][metric], metrics["challenger"][metric], cfg.promote_margin,
                     gaps["champion"], gaps["challenger"], cfg.fairness_tolerance, metric, bool(setup.sensitive))
    comparison = pd.DataFrame(metrics).loc[["roc_auc", "pr_auc", "precision", "recall", "f1"]]
    comparison.loc["equalized_odds_difference"] = [np.nan if g is None else g for g in (gaps["champion"], gaps["challenger"])]
    comparison.loc["threshold"] = [serving.threshold, challenger.threshold]
    return against_original(setup, {"metric": metric, "comparison": comparison}, frame, y) | {
        "decision": verdict["decision"], "reason": verdict["reason"], "metric": metric,
        "gain": verdict["gain"], "fair": verdict["fair"], "better": verdict["better"],
        "fairness_evidence": verdict["fairness_evidence"], "comparison": comparison,
        "candidates": candidates.reset_index(names="candidate"), "algorithm": challenger.algorithm,
        "trained_on": {"reference_rows": len(setup.reference), "validation_rows": len(setup.validation),
                       "batches": [b.name for b in learn], "fit_rows": len(parts[1]), "valid_rows": len(parts[3])},
        "evaluated_on": [b.name for b in window], "challenger": challenger,
        "rows": parts[0].assign(**{TARGET: parts[1]}),
    }


def against_original(setup: Setup, judged: dict[str, Any], frame: pd.DataFrame, y: np.ndarray) -> dict[str, Any]:
    """The original model's score on the judging window, and the challenger's gain over it (positive: better), so a
    chain of promotions is also measured against never retraining."""
    from kit.monitoring.retraining import _higher
    from kit.training.metrics import compute_metrics

    metric = judged["metric"]
    if setup.task == "binary":
        original = compute_metrics(y, setup.model.predict_proba(frame), setup.model.threshold)[metric]
    else:
        original = tasks.figures(setup.model, y, frame)[metric]
    challenger = judged["comparison"].loc[metric, "challenger"]
    gain = challenger - original if _higher(metric) else original - challenger
    return {"original_score": float(original), "vs_original": float(gain)}


def _task_challenge(setup: Setup, models: dict[str, Any], frame: pd.DataFrame, y: np.ndarray, cfg: Any) -> dict[str, Any]:
    """Serving model against a regression or multiclass challenger on the window: the task's metric and fairness gap."""
    from kit import content
    from kit.monitoring.retraining import GAP_NAME, _higher, decide, task_fairness_gap

    metric = tasks.retraining_metric(setup.task, cfg.metric, content.load("monitoring")["retraining"]["task_metric"])
    metrics = {k: tasks.figures(m, y, frame) for k, m in models.items()}
    gaps = {k: task_fairness_gap(setup.task, y, tasks.predictions(m, frame)[0], frame, setup.sensitive, cfg.fairness_min_group)
            for k, m in models.items()}
    verdict = decide(metrics["champion"][metric], metrics["challenger"][metric], cfg.promote_margin,
                     gaps["champion"], gaps["challenger"], cfg.fairness_tolerance, metric, bool(setup.sensitive),
                     higher=_higher(metric), gap_name=GAP_NAME[setup.task])
    comparison = pd.DataFrame(metrics)
    comparison.loc["fairness_gap"] = [np.nan if g is None else g for g in (gaps["champion"], gaps["challenger"])]
    return {"decision": verdict["decision"], "reason": verdict["reason"], "metric": metric, "gain": verdict["gain"],
            "fair": verdict["fair"], "better": verdict["better"], "fairness_evidence": verdict["fairness_evidence"],
            "comparison": comparison}


def synthetic_name(name: str, scenario: str) -> str:
    """Registry name of a workshop scenario's challengers: never the real model's name."""
    return f"{name}-synthetic-{scenario}"


def apply_decision(ctx: Any, setup: Setup, outcome: dict[str, Any]) -> dict[str, Any]:
    """Save the replay's deciding challenger; register it as a version tagged with the decision; on promote, move
    the champion alias. Challengers of a synthetic scenario go under their own model name, labelled synthetic."""
    challenger = outcome.get("challenger")
    settings: MonitoringSection = ctx.config.monitoring
    synthetic = settings.production is None
    record: dict[str, Any] = {"synthetic": synthetic, "scenario": settings.scenario if synthetic else None}
    if challenger is None:
        return record | {"registry": "no challenger trained"}
    model_dir = challenger.save(Path(ctx.run_dir) / "artifacts" / "challenger")
    record |= {"model_dir": str(model_dir.relative_to(ctx.run_dir)), "registry": "not registered (training did not register a model)"}
    real = setup.registry.get("name")
    if not real or not setup.registry.get("uri"):
        return record
    from kit.training.registry import Registry

    name = synthetic_name(real, settings.scenario) if synthetic else real
    label = f"synthetic scenario {settings.scenario!r}: " if synthetic else ""
    registry = Registry(setup.registry.get("uri"))
    window = outcome["comparison"]["challenger"].to_dict()
    kind = {"synthetic": str(synthetic).lower()} | ({"scenario": settings.scenario} if synthetic else {})
    run_id = registry.log_candidate(
        setup.registry.get("experiment") or f"kit/{ctx.config.name or 'run'}", "monitoring-challenger" + ("-synthetic" if synthetic else ""),
        params={**challenger.info.get("params", {}), "threshold": challenger.threshold, "retrained_on": outcome["trained_on"]},
        metrics={f"window_{k}": v for k, v in window.items()},
        tags={"source": "monitoring", "kind": "model", "selected": "True"} | kind, model_dir=model_dir)
    fair = outcome.get("fair")
    tags = {"source": "monitoring retraining", "monitoring.decision": outcome["decision"],
            "monitoring.reason": outcome["reason"][:4900], "monitoring.evaluated_on": ",".join(outcome["evaluated_on"]),
            "gate.fairness": "not checked (not enough evidence)" if fair is None else "passed" if fair else "failed"} | kind
    version = registry.register(name, run_id, tags)
    previous = registry.champion_version(name)
    record |= {"model_name": name, "version": version, "previous": previous}
    if outcome["decision"] != "promote":
        registry.set_version_tag(name, version, "status", "rejected")
        return record | {"registry": f"{label}challenger registered as version {version} of {name} (rejected); champion stays version {previous}"}
    if setup.watching_candidate and not synthetic:
        registry.set_version_tag(name, version, "status", "candidate")
        outcome["decision"] = "promote over the candidate"
        outcome["reason"] += ("; there is no champion to replace (the watched model is a candidate), so the challenger is "
                              "registered as a candidate too: the champion alias moves only through the promotion gates")
        return record | {"registry": f"challenger registered as candidate version {version} of {name}; no champion is set "
                                     "(it moves only through the training and explainability gates)"}
    if needs_signoff(ctx) and not synthetic:
        registry.set_version_tag(name, version, "status", "awaiting sign-off")
        outcome["decision"] = "promote after sign-off"
        outcome["reason"] += ("; the stakes require a person to approve the new version before the champion "
                              "alias moves (Registry.record_approval, then Registry.set_champion)")
        return record | {"registry": f"challenger registered as version {version} of {name}, awaiting human "
                                     f"sign-off; champion stays version {previous}"}
    registry.set_champion(name, version, (label + outcome["reason"])[:500])
    if synthetic:
        return record | {"registry": f"{label}version {version} is the champion of {name} only; the real model {real} "
                                     f"is untouched (champion v{registry.champion_version(real) or '-'})"}
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
    overlap: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `monitoring` artifact: batches, drift, performance, alerts, retraining, latency, headline."""
    log = pd.concat([result.alerts, rules.alert_log(rules.latency_alerts(latency, settings.alerts))], ignore_index=True)
    counted = rules.counted(log)
    batch, feature, value = worst(result)
    status = "fail" if (counted["severity"] == "critical").any() else "warn" if len(counted) else "ok"
    overlap = overlap or {}
    resampled = None if settings.production is not None else resampling_note(
        len(setup.held_out), settings.n_batches, settings.batch_size)
    warnings = [w for w in (overlap.get("warning"), setup.watched.get("note") if setup.watching_candidate else None,
                            resampled) if w]
    if warnings and status == "ok":
        status = "warn"
    drift = {f: {b: d.loc[f].drop(labels=["kind"]).to_dict() for b, d in result.drift.items() if f in d.index}
             for f in setup.profile.features}
    synthetic = settings.production is None
    decision = f"{outcome['decision']}" + (" (retraining triggered)" if outcome["triggered"] else "")
    if outcome["decision"] == "promote" and (outcome.get("vs_original") or 0) < 0:
        decision += f"; worse than the original model ({outcome['vs_original']:+.3f} {outcome.get('metric', '')})"
    headline = {
        "Watched model": (f"CANDIDATE {setup.watched.get('name')} v{setup.watched.get('version') or '-'} (no champion)"
                          if setup.watching_candidate else f"champion {setup.watched.get('name')} v{setup.watched.get('version')}"),
        "Alerts": f"{len(counted)} ({int((counted['severity'] == 'critical').sum())} critical)",
        "Worst feature": f"{feature} (PSI {value:.2f}, {batch})" if feature else "none",
        "Decision": decision + (f" [synthetic scenario {settings.scenario}]" if synthetic else ""),
    }
    if setup.task != "binary":
        shown = result.estimate.get("metrics") or []
        headline["Without labels"] = (f"{' and '.join(shown)} estimated (cross-checked on test rows)" if shown
                                      else "drift only (the label-free estimate failed its cross-check)")
    if resampled:
        headline["Scenario rows"] = (f"each batch repeats ~{len(setup.held_out) // settings.n_batches:,} distinct rows "
                                     "(counts and intervals overstate the evidence)")
    if overlap.get("overlapping_rows"):
        headline["Training overlap"] = f"{overlap['overlapping_rows']:,} production rows inside the training period"
    from kit.compute.drift import method_note

    method = method_note(result.drift)
    if method["name"] == "sketch":
        headline["Drift method"] = method["text"]
    return {
        "engine": setup.engine | ({"batch_samples": result.samples} if result.samples else {}),
        "drift_method": method,
        "source": settings.production.model_dump(mode="json") if settings.production else {"scenario": settings.scenario, "synthetic": True},
        "synthetic": synthetic,
        "watched": setup.watched,
        "warnings": warnings,
        "training_overlap": overlap,
        "injections": injections,
        "key_features": setup.key_features,
        "batches": result.batches,
        "drift": drift,
        "prediction_drift": result.score_drift.reset_index(),
        "data_quality": result.quality,
        "performance": {"watched_accepted": setup.test_metrics, "thresholds": result.thresholds,
                        "thresholds_from": f"accepted test figures of the watched {setup.watched.get('role', 'model')}",
                        "min_class_count": settings.performance.min_class_count,
                        "measured": result.measured.reset_index(), "expected": result.expected.reset_index(),
                        "expected_method": result.estimate.get("note", "confidence-based: expected confusion counts from calibrated "
                                                                       "probabilities; assumes P(y|x) unchanged")}
                       | ({"task": setup.task, "estimate": {k: v for k, v in result.estimate.items() if k != "note"}}
                          if setup.task != "binary" else {}),
        "alerts": log,
        "retraining": {k: (v.reset_index(drop=k == "timeline").to_dict(orient="records") if isinstance(v, pd.DataFrame) else v)
                       for k, v in outcome.items() if k not in ("challenger", "rows")} | applied,
        "latency": latency,
        "headline": headline,
        "headline_status": status,
    }


def latency_check(setup: Setup, settings: MonitoringSection) -> dict[str, float]:
    """Champion scoring latency on reference rows against the configured budget."""
    cfg = settings.latency
    return measure_latency(setup.model, setup.reference, cfg.rows, cfg.repeats, cfg.budget_ms_per_1000)
