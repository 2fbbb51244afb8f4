"""Phase 3 steps the notebook calls: load the champion and test rows, explain, judge fairness, queue, card.

Each step takes the inputs and the phase settings and returns a small result object; the
computation lives in the pure modules (shapley, reasons, fairness, review, tiers, card) and
files are written only here.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit import escape
from kit.errors import ArtifactError, DataError, did_you_mean
from kit.explain import card as card_mod
from kit.explain import fairness, review, shapley, tiers
from kit.explain.config import ExplainSection
from kit.explain.reasons import reason_codes, reason_text

OUT_DIR = "explain"


@dataclass
class ExplainInputs:
    """The champion and the test rows it is explained on."""

    model: Any  # kit.training.scoring.ScoringModel
    X: pd.DataFrame | None  # the test rows in memory (local engine); None on Dask (see ``rows``)
    prepared: pd.DataFrame | None
    y: np.ndarray
    proba: np.ndarray
    ids: pd.Series
    threshold: float
    champion: dict[str, Any]
    training: dict[str, Any]
    spec: Any  # kit.schema.DatasetSpec
    tier: str
    tier_source: str
    settings: ExplainSection
    seed: int
    out_dir: Path
    config: Any = None
    use_cases: dict[str, Any] | None = None
    task: str = "binary"
    valid: tuple[pd.DataFrame, np.ndarray] | None = None  # validation rows (regression intervals), read when needed
    cache: dict[str, Any] = field(default_factory=dict)  # computed once per run (the uncertainty of each row)
    rows: DaskRows | None = None  # Dask engine: the test rows stay on the cluster, gathered by position when needed

    @property
    def engine(self) -> str:
        """'dask' when the test rows stay on a cluster, else 'local'."""
        return "local" if self.rows is None else "dask"

    @property
    def n_rows(self) -> int:
        """Number of test rows."""
        return len(self.y)

    def raw_rows(self, positions: np.ndarray) -> pd.DataFrame:
        """The test rows at ``positions`` (every column but the target): in memory, or gathered from the cluster."""
        positions = np.asarray(positions, dtype=np.int64)
        return self.X.iloc[positions] if self.rows is None else self.rows.take(positions)

    def prepared_rows(self, positions: np.ndarray) -> pd.DataFrame:
        """The booster-ready test rows at ``positions``."""
        if self.rows is None:
            return self.prepared.iloc[np.asarray(positions, dtype=np.int64)]
        return self.model.prepare(self.raw_rows(positions))

    def column(self, name: str) -> pd.Series:
        """One small column of every test row (a sensitive column), indexed like the test rows."""
        return self.X[name] if self.rows is None else self.rows.small[name]

    @property
    def decisions(self) -> np.ndarray:
        """Binary: 0/1 at the champion's threshold; multiclass: the predicted class index; regression: the prediction."""
        if self.task == "multiclass":
            return np.argmax(self.proba, axis=1)
        if self.task == "regression":
            return self.proba
        return (self.proba >= self.threshold).astype(int)

    @property
    def classes(self) -> list[Any]:
        """The model's class labels in encoded order (empty for regression)."""
        return list(self.model.classes or []) if self.task != "regression" else []

    @property
    def score(self) -> np.ndarray:
        """One number per row for ordering: P(positive), the predicted class's probability, or the prediction."""
        return self.proba.max(axis=1) if self.task == "multiclass" else self.proba


@dataclass
class DaskRows:
    """The test rows on a Dask cluster: a lazy frame, each row's dataset position, and the few columns gathered."""

    frame: Any  # dask DataFrame of the test rows (every column but the target), in position order
    index: np.ndarray  # the dataset position of every test row (the frame's index), in test order
    small: pd.DataFrame  # the sensitive columns of every test row, gathered once, indexed like ``frame``
    lazy: Any  # kit.compute.lazy.LazyData the rows come from (compute, take)
    gathered: dict[str, int] = field(default_factory=dict)  # rows gathered to the client, by step
    _last: tuple[bytes, pd.DataFrame] | None = field(default=None, repr=False)  # the last rows gathered (steps reuse them)

    def take(self, positions: np.ndarray) -> pd.DataFrame:
        """Gather the test rows at ``positions`` (test order) from the cluster, in the order given."""
        key = np.asarray(positions, dtype=np.int64).tobytes()
        if self._last is None or self._last[0] != key:
            wanted = self.index[np.asarray(positions, dtype=np.int64)]
            rows = self.lazy.take(wanted, columns=list(self.frame.columns))
            self._last = (key, rows.set_axis(pd.Index(wanted, name=self.frame.index.name), axis=0))
        return self._last[1]

    def count(self, step: str, rows: int) -> None:
        """Record that ``step`` gathered ``rows`` test rows to the client."""
        self.gathered[step] = int(rows)


@dataclass
class GlobalExplanation:
    """SHAP on a seeded, time-budgeted sample: importance and how stable its ranking is."""

    contributions: shapley.Contributions
    positions: np.ndarray
    importance: pd.DataFrame
    stability: dict[str, Any]
    seconds_per_row: float
    budget_seconds: float
    per_class: shapley.ClassContributions | None = None  # multiclass: every class's contributions
    sample: pd.DataFrame | None = None  # the sample's booster-ready rows (the figures colour and place dots by them)
    importance_rows: int | str = 0  # rows the importance table is computed over: the sample's size, or "every row"


@dataclass
class ReasonCodes:
    """Per-row reason codes for the rows that need them, and where they were written."""

    table: pd.DataFrame
    scope: str
    path: Path
    rows: int = field(default=0)


def _spec(ctx: Any, training: dict[str, Any]) -> Any:
    """The dataset spec training used (recorded split), else the config's dataset."""
    from kit.training.data import trained_spec

    return trained_spec(ctx.run_dir, ctx.config)


def _load_model(run_dir: Path, champion: dict[str, Any]) -> Any:
    """Load the champion's ScoringModel after checking its file is a supported native booster."""
    from kit.training.scoring import SIDECAR, ScoringModel

    if not champion.get("model_dir"):
        raise ArtifactError("training artifact has no champion.model_dir; re-run phase 2 (training)")
    model_dir = (run_dir / champion["model_dir"]).resolve()
    sidecar = model_dir / SIDECAR
    if sidecar.is_file():
        model_file = json.loads(sidecar.read_text(encoding="utf-8")).get("model_file", "")
        shapley.load_booster(model_dir / model_file)  # raises ModelFileError for pickles and the like
    model = ScoringModel.load(model_dir)
    shapley.booster_kind(model.booster)
    return model


def task_of(model: Any, training: dict[str, Any]) -> str:
    """The run's task: the training artifact's decision, else the model's own (older runs: binary)."""
    return str((training.get("task") or {}).get("task") or getattr(model, "task", "binary"))


def model_output(model: Any, X: pd.DataFrame, task: str) -> np.ndarray:
    """What phase 3 scores with: P(positive) (binary), class probabilities (multiclass), the prediction (regression)."""
    return model.predict(X) if task == "regression" else model.predict_proba(X)


def encoded_y(y: np.ndarray, task: str) -> np.ndarray:
    """The recorded labels as the task encodes them: ints (classification) or floats (regression)."""
    return np.asarray(y, dtype=float) if task == "regression" else np.asarray(y).astype(int)


def check_sensitive(X: pd.DataFrame, sensitive: list[str]) -> None:
    """Raise a DataError naming any sensitive column that is not in the data."""
    for column in sensitive:
        if column not in X.columns:
            raise DataError(
                f"dataset.sensitive: column {column!r} is not in the test data{did_you_mean(column, X.columns)}; "
                "fix the name in dataset.sensitive or remove it"
            )


def row_ids(X: pd.DataFrame, id_columns: list[str]) -> pd.Series:
    """Row identifiers: the first id column when present, else the row index."""
    if id_columns and id_columns[0] in X.columns:
        return X[id_columns[0]].astype(str).rename("row_id")
    return pd.Series(X.index.astype(str), index=X.index, name="row_id")


def load_inputs(ctx: Any) -> ExplainInputs:
    """Read the training artifact, the champion model and the test split; resolve the tier.

    On the Dask engine the test rows stay on the cluster (see :func:`load_inputs_dask`).
    """
    client = _phase_client(ctx.config)
    if client is not None:
        return load_inputs_dask(ctx, client)
    from kit.training.data import load_split

    training = ctx.read("training")
    champion = training.get("champion") or {}
    model = _load_model(Path(ctx.run_dir), champion)
    X, y = load_split(ctx)
    spec = _spec(ctx, training)
    check_sensitive(X, list(spec.sensitive))
    prepared = model.prepare(X)
    task = task_of(model, training)
    return ExplainInputs(
        model=model, X=X, prepared=prepared, y=encoded_y(y, task),
        proba=model_output(model, X, task), ids=row_ids(X, list(spec.id_columns)),
        valid=_valid_rows(ctx, task) if task == "regression" else None,
        **_run_facts(ctx, training, champion, model, spec, task),
    )


def _run_facts(ctx: Any, training: dict[str, Any], champion: dict[str, Any], model: Any, spec: Any, task: str) -> dict[str, Any]:
    """The inputs that do not depend on where the rows are: threshold, tier, settings, folders."""
    from kit.promotion import illustrative_pilot

    threshold = float(champion.get("threshold") or model.threshold)
    use_cases = ctx.read("use_cases", required=False)
    tier, source = tiers.resolve_tier(ctx.config.explainability.tier, use_cases, illustrative_pilot(ctx.config, use_cases),
                                      ctx.config.training.stakes)
    return dict(threshold=threshold, champion=champion, training=training, spec=spec, tier=tier, tier_source=source,
                settings=ctx.config.explainability, seed=int(ctx.config.seed), out_dir=Path(ctx.run_dir) / OUT_DIR,
                config=ctx.config, use_cases=use_cases, task=task)


def _phase_client(config: Any) -> Any | None:
    """The run's cluster client for phase 3, or None on the local engine (dask is not imported then)."""
    from kit.compute.lazy import phase_client

    return None if getattr(config, "compute", None) is None else phase_client(config)


def load_inputs_dask(ctx: Any, client: Any) -> ExplainInputs:
    """The Dask engine's inputs: the test rows stay on the cluster; the model's output for every row is computed
    per partition on the workers, and only labels, outputs, row ids and the sensitive columns come back."""
    from kit.compute.lazy import load_split_lazy

    training = ctx.read("training")
    champion = training.get("champion") or {}
    model = _load_model(Path(ctx.run_dir), champion)
    spec = _spec(ctx, training)
    X, y, lazy = load_split_lazy(ctx, "test", client)
    check_sensitive(X, list(spec.sensitive))
    task = task_of(model, training)
    order = recorded_positions(ctx, "test")
    rows, output = dask_rows(model, X, lazy, task, [*spec.sensitive, *spec.id_columns[:1]], order)
    y = y[np.searchsorted(np.sort(order), order)]  # the recorded order, as load_split gives it
    valid = None
    if task == "regression":  # the interval calibration fits on the validation rows: they are gathered (stated)
        X_valid, y_valid, _ = load_split_lazy(ctx, "valid", client)
        valid_order = recorded_positions(ctx, "valid")
        (frame,) = lazy.compute(X_valid)
        valid = (frame.loc[valid_order], encoded_y(y_valid[np.searchsorted(np.sort(valid_order), valid_order)], task))
        rows.count("validation rows (interval calibration)", len(frame))
    return ExplainInputs(
        model=model, X=None, prepared=None, y=encoded_y(y, task), proba=output,
        ids=row_ids(rows.small, list(spec.id_columns)), valid=valid, rows=rows,
        **_run_facts(ctx, training, champion, model, spec, task),
    )


def recorded_positions(ctx: Any, part: str) -> np.ndarray:
    """The dataset positions of a split part in the order training recorded them (the local engine's row order)."""
    from kit.training.data import SPLIT_FILE

    record = json.loads((Path(ctx.run_dir) / "artifacts" / SPLIT_FILE).read_text(encoding="utf-8"))
    return np.asarray(record["positions"][part], dtype=np.int64)


def dask_rows(model: Any, X: Any, lazy: Any, task: str, small: list[str],
              order: np.ndarray | None = None) -> tuple[DaskRows, np.ndarray]:
    """The test rows as a :class:`DaskRows` and the model's output for every row, computed per partition.

    ``order`` puts the rows in the recorded order (dataset positions; default: position order), so that a test
    position means the same row on both engines.
    """
    width = len(model.classes or []) if task == "multiclass" else 1
    meta = pd.DataFrame({f"out{k}": pd.Series(dtype="f8") for k in range(width)})
    output = X.map_partitions(_partition_output, model, task, width, meta=meta)
    columns = [c for c in dict.fromkeys(small) if c in X.columns]
    if columns:
        out, kept = lazy.compute(output, X[columns])
    else:
        (out,) = lazy.compute(output)
        kept = pd.DataFrame(index=out.index)
    kept = kept.set_axis(out.index, axis=0)
    if order is not None:
        out, kept = out.loc[order], kept.loc[order]
    values = out.to_numpy(dtype=float)
    rows = DaskRows(frame=X, index=out.index.to_numpy(dtype=np.int64), small=kept, lazy=lazy)
    return rows, values if task == "multiclass" else values[:, 0]


def _partition_output(part: pd.DataFrame, model: Any, task: str, width: int) -> pd.DataFrame:
    """The model's output (what :func:`model_output` gives) for one partition's rows, one column per output."""
    columns = [f"out{k}" for k in range(width)]
    if not len(part):
        return pd.DataFrame({c: pd.Series(dtype="f8") for c in columns}, index=part.index)
    values = np.asarray(model_output(model, part, task), dtype=float).reshape(len(part), width)
    return pd.DataFrame(values, index=part.index, columns=columns)


def _valid_rows(ctx: Any, task: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The recorded validation rows (X, y): the prediction intervals are calibrated on them, never on test rows."""
    from kit.training.data import load_split

    X, y = load_split(ctx, part="valid")
    return X, encoded_y(y, task)


def explain_global(inputs: ExplainInputs) -> GlobalExplanation:
    """Exact SHAP on a seeded sample sized by the time budget; importance and half-sample stability.

    With ``explainability.shap_all_rows`` the importance table is computed over every test row (per partition
    on the Dask engine); the sample still gives the stability measure and the figures.
    """
    s = inputs.settings
    per_row = shapley.seconds_per_row(inputs.model.booster)
    size = shapley.sample_size(s.time_budget_seconds, per_row, inputs.n_rows, s.min_sample_rows, s.max_sample_rows)
    positions = shapley.sample_positions(inputs.n_rows, size, inputs.seed)
    sample = inputs.prepared_rows(positions)
    if inputs.rows is not None:
        inputs.rows.count("SHAP sample", len(positions))
    if inputs.task == "multiclass":
        per_class = shapley.exact_class_contributions(inputs.model.booster, sample, inputs.classes)
        contribs, importance = per_class.for_classes(per_class.predicted()), shapley.class_importance(per_class)
        stability = shapley.importance_stability(per_class.total_abs(), inputs.seed)
    else:
        per_class = None
        contribs = shapley.exact_contributions(inputs.model.booster, sample)
        importance, stability = shapley.global_importance(contribs), shapley.importance_stability(contribs, inputs.seed)
    if s.shap_all_rows:
        importance = every_row_importance(inputs)
    return GlobalExplanation(
        contributions=contribs, positions=positions, importance=importance, stability=stability,
        seconds_per_row=per_row, budget_seconds=s.time_budget_seconds, per_class=per_class, sample=sample,
        importance_rows=EVERY_ROW if s.shap_all_rows else len(positions),
    )


EVERY_ROW = "every row"


def every_row_importance(inputs: ExplainInputs) -> pd.DataFrame:
    """The global importance table over every test row: in process, or per partition on the cluster and merged."""
    model = inputs.model
    if inputs.rows is None:
        if inputs.task == "multiclass":
            return shapley.class_importance(shapley.exact_class_contributions(model.booster, inputs.prepared, inputs.classes))
        return shapley.global_importance(shapley.exact_contributions(model.booster, inputs.prepared))
    if inputs.task != "multiclass":
        from kit.compute.train import global_importance_dask

        return global_importance_dask(model, inputs.rows.frame, inputs.rows.lazy.client)
    return class_importance_dask(model, inputs.rows.frame, inputs.rows.lazy)


def _class_sums(part: pd.DataFrame, model: Any) -> tuple[int, np.ndarray, np.ndarray, np.ndarray] | None:
    """One partition's multiclass SHAP sums: rows, sum |SHAP| over classes, signed sum towards the predicted class,
    and sum |SHAP| per class (classes x features)."""
    if not len(part):
        return None
    per_class = shapley.exact_class_contributions(model.booster, model.prepare(part), model.classes)
    toward = per_class.for_classes(per_class.predicted()).values.to_numpy().sum(axis=0)
    by_class = np.stack([c.values.abs().to_numpy().sum(axis=0) for c in per_class.per_class])
    return len(part), by_class.sum(axis=0), toward, by_class


def class_importance_dask(model: Any, frame: Any, lazy: Any) -> pd.DataFrame:
    """:func:`shapley.class_importance` over every row of a Dask DataFrame (sums merged over partitions)."""
    import dask

    parts = [p for p in lazy.compute(*[dask.delayed(_class_sums)(part, model) for part in frame.to_delayed()]) if p]
    rows = sum(p[0] for p in parts)
    total, toward, by_class = (sum(p[i] for p in parts) / rows for i in (1, 2, 3))
    table = shapley.importance_table(list(model.features), total, toward)
    for k, label in enumerate(model.classes):
        table[f"class {label}"] = pd.Series(by_class[k], index=model.features).reindex(table["feature"]).to_numpy()
    return table


def row_contributions(inputs: ExplainInputs, positions: np.ndarray) -> shapley.Contributions:
    """Exact contributions of the rows at ``positions``: towards the predicted class for a multiclass model."""
    return contributions_toward(inputs.model, inputs.prepared_rows(positions), inputs.task)


def contributions_toward(model: Any, prepared: pd.DataFrame, task: str) -> shapley.Contributions:
    """Exact contributions of booster-ready rows: towards each row's predicted class for a multiclass model."""
    if task == "multiclass":
        per_class = shapley.exact_class_contributions(model.booster, prepared, list(model.classes or []))
        return per_class.for_classes(per_class.predicted())
    return shapley.exact_contributions(model.booster, prepared)


def _partition_reasons(part: pd.DataFrame, model: Any, task: str, top_k: int) -> pd.DataFrame | None:
    """One partition's reason codes (exact contributions computed on the worker)."""
    if not len(part):
        return None
    return reason_codes(contributions_toward(model, model.prepare(part), task), part, top_k=top_k)


def reason_table(inputs: ExplainInputs, positions: np.ndarray, top_k: int) -> pd.DataFrame:
    """The reason codes of the rows at ``positions``: from the rows in memory or gathered, or, for every row on the
    Dask engine, computed per partition on the workers (only the reason codes come back)."""
    if inputs.rows is None or len(positions) < inputs.n_rows:
        if inputs.rows is not None:
            inputs.rows.count("reason codes", len(positions))
        return reason_codes(row_contributions(inputs, positions), inputs.raw_rows(positions), top_k=top_k)
    import dask

    parts = inputs.rows.lazy.compute(*[dask.delayed(_partition_reasons)(part, inputs.model, inputs.task, top_k)
                                       for part in inputs.rows.frame.to_delayed()])
    table = pd.concat([p for p in parts if p is not None])
    return table.loc[inputs.rows.index[np.asarray(positions, dtype=np.int64)]]


def chosen_rows(inputs: ExplainInputs) -> dict[str, int]:
    """Row positions to explain locally: the highest-risk, the most borderline, and config-named ids."""
    chosen = _default_rows(inputs)
    ids = inputs.ids.to_numpy()
    for wanted in inputs.settings.explain_rows:
        hits = np.flatnonzero(ids == str(wanted))
        if hits.size == 0:
            raise DataError(
                f"explainability.explain_rows: row id {wanted!r} is not in the test split "
                f"(ids look like {', '.join(map(str, ids[:3]))}){did_you_mean(str(wanted), ids[:5000])}; "
                "use an id of a test row"
            )
        chosen[f"row {wanted}"] = int(hits[0])
    return chosen


def _default_rows(inputs: ExplainInputs) -> dict[str, int]:
    """The rows every report explains: the extremes and the most uncertain prediction of the task."""
    if inputs.task == "regression":
        return {"highest prediction": int(np.argmax(inputs.proba)), "lowest prediction": int(np.argmin(inputs.proba))}
    if inputs.task == "multiclass":
        return {"most confident": int(np.argmax(inputs.score)),
                "least confident": int(np.argmin(review.top_two_margin(inputs.proba)))}
    return {"highest risk": int(np.argmax(inputs.proba)),
            "borderline": int(np.argmin(np.abs(inputs.proba - inputs.threshold)))}


def local_explanations(inputs: ExplainInputs) -> dict[str, Any]:
    """Exact contributions of the chosen rows, with their ids and probabilities."""
    chosen = chosen_rows(inputs)
    positions = np.array(list(chosen.values()))
    contribs = row_contributions(inputs, positions)
    if inputs.rows is not None:
        inputs.rows.count("local explanations", len(positions))
    local = {
        "labels": list(chosen), "positions": positions, "contributions": contribs,
        "ids": inputs.ids.iloc[positions].tolist(), "proba": inputs.score[positions],
        "values": inputs.raw_rows(positions), "task": inputs.task, "target": inputs.spec.target,
    }
    if inputs.task == "multiclass":
        local["predicted"] = [inputs.classes[k] for k in inputs.decisions[positions]]
    return local


def reason_code_rows(inputs: ExplainInputs) -> tuple[np.ndarray, str]:
    """Which rows get reason codes: every scored row for a high tier, else the review queue."""
    if inputs.tier == "high":
        return np.arange(len(inputs.proba)), "every scored row (high tier)"
    return np.sort(review_positions(inputs)), "review queue only"


def export_reason_codes(inputs: ExplainInputs) -> ReasonCodes:
    """Compute reason codes for the rows that need them and write reason_codes.csv."""
    positions, scope = reason_code_rows(inputs)
    k = inputs.settings.reason_codes
    table = reason_table(inputs, positions, k)
    if inputs.task == "regression":
        table.insert(0, "prediction", np.round(inputs.proba[positions], 6))
    else:
        table.insert(0, "probability", np.round(inputs.score[positions], 6))
    if inputs.task == "multiclass":
        table.insert(0, "predicted", np.asarray(inputs.classes, dtype=object)[inputs.decisions[positions]])
    table.insert(0, "row_id", inputs.ids.iloc[positions].to_numpy())
    unit = inputs.spec.target if inputs.task == "regression" else None
    table["reasons"] = reason_text(table, k, unit=unit) if len(table) else pd.Series(dtype=str)
    if inputs.task == "multiclass" and len(table):  # the contributions are towards the class each row was given
        table["reasons"] = "towards " + table["predicted"].astype(str) + ": " + table["reasons"]
    inputs.out_dir.mkdir(parents=True, exist_ok=True)
    path = inputs.out_dir / "reason_codes.csv"
    escape.to_csv(table, path)
    return ReasonCodes(table=table, scope=scope, path=path, rows=len(table))


def assess_fairness(inputs: ExplainInputs) -> dict[str, Any]:
    """Fairness of every sensitive column and the overall gate."""
    check_group_labels(inputs.settings.fairness.group_labels, list(inputs.spec.sensitive))
    if inputs.task != "binary":
        columns = [
            fairness.assess_task_column(inputs.task, col, inputs.column(col), inputs.y, inputs.decisions, inputs.classes,
                                        inputs.settings.fairness, inputs.seed + i)
            for i, col in enumerate(inputs.spec.sensitive)
        ]
        return {"columns": columns, "gate": fairness.fairness_gate(columns), "task": inputs.task}
    columns = [
        fairness.assess_column(
            col, inputs.column(col), inputs.y, inputs.decisions, inputs.proba, inputs.settings.fairness, inputs.seed + i
        )
        for i, col in enumerate(inputs.spec.sensitive)
    ]
    return {"columns": columns, "gate": fairness.fairness_gate(columns)}


def record_fairness_gate(inputs: ExplainInputs, fair: dict[str, Any]) -> dict[str, Any]:
    """Tag the champion's registry version with the fairness gate; report what was recorded (or why not)."""
    name, version = inputs.champion.get("model_name"), inputs.champion.get("version")
    if not name or version is None:
        return {"recorded": False, "why": "the training artifact names no registered model version"}
    from kit.training.registry import Registry

    registry = Registry(inputs.champion.get("tracking_uri") or inputs.config.training.tracking_uri)
    registry.set_version_tag(name, str(version), "gate.fairness", fair["gate"])
    for column in fair["columns"]:
        registry.set_version_tag(name, str(version), f"fairness.{column['column']}", column["status"])
    return {"recorded": True, "model": name, "version": str(version), "tag": "gate.fairness", "value": fair["gate"]}


def build_review_queue(inputs: ExplainInputs, reasons: ReasonCodes) -> dict[str, Any]:
    """The review queue sized by the reviewers' capacity (CSV with reason codes), its summary and the size curve."""
    if inputs.task != "binary":
        return _ranked_queue(inputs, reasons)
    reason_cols = reasons.table.drop(columns=["row_id", "probability"])  # indexed like the test rows
    positions = review_positions(inputs)
    queue = review.review_queue(inputs.ids, inputs.proba, inputs.y, inputs.threshold, positions, reason_cols)
    path = inputs.out_dir / "review_queue.csv"
    inputs.out_dir.mkdir(parents=True, exist_ok=True)
    escape.to_csv(queue, path)
    summary = review.queue_summary(inputs.proba, inputs.y, inputs.threshold, positions)
    capacity = review.capacity_share(inputs.settings.review)
    summary |= {"capacity": capacity, "max_distance": inputs.settings.review_band}
    return {
        "summary": {**summary, "path": path},
        "curve": review.band_curve(inputs.proba, inputs.y, inputs.threshold, review.default_widths(summary["half_width"])),
        "queue": queue,
    }


def uncertainty(inputs: ExplainInputs) -> dict[str, Any]:
    """Per test row, how unsure the model is (larger: more), and the error the queue is judged by.

    Regression: the width of a split-conformal prediction interval calibrated on the validation
    residuals, and the absolute error; multiclass: one minus the top-two probability margin, and 0/1 errors.
    """
    if "uncertainty" not in inputs.cache:
        inputs.cache["uncertainty"] = _uncertainty(inputs)
    return inputs.cache["uncertainty"]


def _uncertainty(inputs: ExplainInputs) -> dict[str, Any]:
    """Compute :func:`uncertainty` (once per run)."""
    if inputs.task == "multiclass":
        margin = review.top_two_margin(inputs.proba)
        return {"uncertainty": 1.0 - margin, "error": (inputs.decisions != inputs.y).astype(float), "error_name": "error rate",
                "by": "top-two probability margin (smallest first)", "margin": margin}
    if inputs.valid is None:
        raise ArtifactError("phase 3 needs the validation rows for the prediction intervals; re-run phase 2 (training)")
    X_valid, y_valid = inputs.valid
    coverage = inputs.settings.review.coverage or float(review.content.load("explain")["review"]["coverage"])
    residuals = y_valid - inputs.model.predict(X_valid)
    calibration = review.calibrate_intervals(inputs.model.prepare(X_valid), residuals, coverage, inputs.seed)
    intervals = test_intervals(inputs, calibration)
    return {"uncertainty": intervals["width"].to_numpy(), "error": np.abs(inputs.y - inputs.proba), "error_name": "mean absolute error",
            "by": f"width of the {coverage:.0%} prediction interval (widest first)", "intervals": intervals,
            "calibration": {k: v for k, v in calibration.items() if k != "model"},
            "coverage_test": review.interval_coverage(intervals, inputs.y)}


def test_intervals(inputs: ExplainInputs, calibration: dict[str, Any]) -> pd.DataFrame:
    """Every test row's prediction interval (regression): in process, or its width per partition on the cluster."""
    if inputs.rows is None:
        return review.prediction_intervals(calibration, inputs.prepared, inputs.proba)
    scale = inputs.rows.frame.map_partitions(_partition_scale, inputs.model, calibration["model"], calibration["floor"],
                                             meta=("scale", "f8"))
    (scale,) = inputs.rows.lazy.compute(scale)
    half = calibration["q"] * scale.to_numpy(dtype=float)
    prediction = np.asarray(inputs.proba, dtype=float)
    return pd.DataFrame({"prediction": prediction, "low": prediction - half, "high": prediction + half, "width": 2 * half},
                        index=pd.Index(inputs.rows.index, name=inputs.rows.frame.index.name))


def _partition_scale(part: pd.DataFrame, model: Any, scale_model: Any, floor: float) -> pd.Series:
    """The interval scale model's difficulty of one partition's rows (see review.predicted_scale)."""
    if not len(part):  # a partition without test rows (the boosters refuse empty input)
        return pd.Series(index=part.index, dtype=float)
    return pd.Series(review.predicted_scale(scale_model, model.prepare(part), floor), index=part.index, dtype=float)


def _ranked_queue(inputs: ExplainInputs, reasons: ReasonCodes) -> dict[str, Any]:
    """Review queue of a regression or multiclass model: the most uncertain rows, as many as capacity allows."""
    unsure = uncertainty(inputs)
    capacity = review.capacity_share(inputs.settings.review)
    positions = review.uncertain_positions(unsure["uncertainty"], review.queue_size(capacity["share"], len(inputs.y)))
    queue = _queue_frame(inputs, unsure, positions)
    reason_cols = reasons.table.drop(columns=["row_id", "probability", "prediction", "predicted"], errors="ignore")
    queue = queue.join(reason_cols.drop(columns=["margin"], errors="ignore"), how="left").reset_index(drop=True)
    path = inputs.out_dir / "review_queue.csv"
    inputs.out_dir.mkdir(parents=True, exist_ok=True)
    escape.to_csv(queue, path)
    summary = review.ranked_summary(unsure["error"], positions, unsure["error_name"])
    summary |= {"by": unsure["by"], "capacity": capacity, "path": path}
    if inputs.task == "regression":
        widths = unsure["intervals"]["width"]
        summary |= {"interval": {**unsure["calibration"], "coverage_test": unsure["coverage_test"],
                                 "mean_width": float(widths.mean()),
                                 "queue_min_width": float(widths.iloc[positions].min()) if len(positions) else None}}
    else:
        summary |= {"error_rate_in": summary["error_in"], "error_rate_out": summary["error_out"],
                    "queue_max_margin": float(unsure["margin"][positions].max()) if len(positions) else None}
    curve = review.ranked_curve(unsure["uncertainty"], unsure["error"], review.default_shares(capacity["share"]))
    return {"summary": summary, "curve": curve, "queue": queue}


def _queue_frame(inputs: ExplainInputs, unsure: dict[str, Any], positions: np.ndarray) -> pd.DataFrame:
    """The queued rows, most uncertain first: prediction and interval (regression) or classes and margin (multiclass)."""
    rows = {"row_id": inputs.ids.to_numpy()[positions]}
    if inputs.task == "regression":
        iv = unsure["intervals"].iloc[positions]
        rows |= {"prediction": iv["prediction"].round(6).to_numpy(), "interval_low": iv["low"].round(6).to_numpy(),
                 "interval_high": iv["high"].round(6).to_numpy(), "interval_width": iv["width"].round(6).to_numpy(),
                 "actual": inputs.y[positions]}
    else:
        labels = np.asarray(inputs.classes, dtype=object)
        order = np.argsort(-inputs.proba[positions], axis=1, kind="stable")
        top = np.take_along_axis(inputs.proba[positions], order[:, :2], axis=1)
        rows |= {"predicted": labels[order[:, 0]], "probability": top[:, 0].round(6), "runner_up": labels[order[:, 1]],
                 "runner_up_probability": top[:, 1].round(6), "margin": unsure["margin"][positions].round(6),
                 "actual": labels[inputs.y[positions]]}
    return pd.DataFrame(rows, index=inputs.ids.index[positions])


def check_tier(inputs: ExplainInputs, glob: GlobalExplanation, reasons: ReasonCodes, fair: dict[str, Any],
               queue: dict[str, Any]) -> dict[str, Any]:
    """Check the tier's requirements against what this run produced."""
    produced = {
        "per_prediction_explanations": reasons.rows == len(inputs.proba) and reasons.rows > 0,
        "global_importance": len(glob.importance) > 0,
        "fairness_assessment": fair["gate"] != fairness.NOT_ASSESSED,
        "human_review_queue": bool(queue["summary"]["path"]),
        "model_card": True,  # written by the next step, checked there for every section
    }
    gate = tiers.tier_gate(inputs.tier, produced)
    gate["source"] = inputs.tier_source
    return gate


def decide_promotion(inputs: ExplainInputs, fair: dict[str, Any], gate: dict[str, Any]) -> dict[str, Any]:
    """The promotion decision on all the evidence so far (training gates, tier, fairness; sign-off comes after)."""
    from kit import promotion
    from kit.training.gates import approval_required

    training = inputs.training
    required = training.get("signoff_required")
    if required is None:
        required = approval_required(inputs.config.training.require_approval, training.get("stakes"))
    gates = promotion.evidence_gates(training.get("gates") or {}, gate, fair["gate"])
    return promotion.decide(gates, inputs.champion.get("version"), bool(required),
                            acceptable=promotion.acceptable_gates(inputs.tier), metric=promotion.metric_evidence(training))


def promotion_table(decision: dict[str, Any]) -> pd.DataFrame:
    """Every promotion gate, passed or not, with what the user can do about a failed one."""
    from kit import promotion

    return promotion.gate_table(decision["gates"])


def apply_promotion(ctx: Any, decision: dict[str, Any]) -> str:
    """After explain.json is written: record the evidence, move the alias if every gate passed; the status line."""
    from kit import promotion

    return promotion.status_line(promotion.apply_promotion(ctx, decision))


def _metrics_rows(champion: dict[str, Any]) -> list[dict[str, Any]]:
    """Champion metrics as rows (value with interval when training recorded one)."""
    metrics = champion.get("metrics") or {}
    rows = []
    for name, value in metrics.items():
        if isinstance(value, dict):
            rows.append({"metric": name, "value": value.get("value"), "low": value.get("low"), "high": value.get("high")})
        else:
            rows.append({"metric": name, "value": value, "low": None, "high": None})
    return rows


def model_card_facts(inputs: ExplainInputs, glob: GlobalExplanation, reasons: ReasonCodes, fair: dict[str, Any],
                     queue: dict[str, Any], gate: dict[str, Any], promotion: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every fact of the model card, by section (the status is the promotion decision's when given)."""
    from kit.promotion import illustrative_pilot, status_line

    config, s, champion = inputs.config, inputs.settings, inputs.champion
    status = promotion["status"] if promotion else champion.get("status")
    org = getattr(config, "organization", None)
    pilot = (inputs.use_cases or {}).get("pilot") or {}
    dataset = inputs.training.get("dataset") or {}
    governance = card_mod.content.load("governance")
    task_facts = _task_facts(inputs)
    return {
        "model_details": {
            "name": champion.get("model_name") or "champion", "version": champion.get("version"),
            "algorithm": inputs.model.algorithm, "features": len(inputs.model.features),
            **task_facts["details"], "date": dt.date.today().isoformat(),
            "owner": s.model_card.owner or getattr(org, "owner", None) or "not named",
            "organization": getattr(org, "name", None), "registry_status": status,
        },
        "intended_use": {
            "intended_use": s.model_card.intended_use or inputs.spec.description
            or task_facts["use"].format(org=getattr(org, "name", None) or "the organization"),
            "pilot": "none (the bundled demo portfolio's pilot does not describe this dataset)"
            if illustrative_pilot(config, inputs.use_cases) else pilot.get("name"),
            "out_of_scope": s.model_card.out_of_scope or ["Decisions about individuals without human review of borderline cases"],
        },
        "data": {
            "source": inputs.spec.name or Path(inputs.spec.path).name, "file": Path(inputs.spec.path).name,
            "sha256": dataset.get("sha256") or dataset.get("hash"), "target": inputs.spec.target,
            "test_rows": len(inputs.y), **task_facts["data"],
            "contract": (inputs.training.get("contract") or {}).get("summary") or (inputs.training.get("contract") or {}).get("status")
            or "see training artifact",
        },
        "metrics": _metrics_rows(champion) or [{"metric": "n/a", "value": None, "low": None, "high": None}],
        "fairness": _task_fairness_facts(fair) if inputs.task != "binary" else {
            "gate": fair["gate"],
            "columns": [
                {"column": c["column"], "status": c["status"],
                 "demographic_parity_ratio": c["demographic_parity_ratio"],
                 "dpr_interval": _ci_text(c["demographic_parity_ratio_ci"]),
                 "equalized_odds_difference": c["equalized_odds_difference"],
                 "eod_interval": _ci_text(c["equalized_odds_difference_ci"]),
                 "groups": len(c["groups"]), "findings": "; ".join(c["findings"]) or "none"}
                for c in fair["columns"]
            ] or [{"column": "none", "status": fair["gate"]}],
        },
        "explanations": {
            "top_drivers": glob.importance["feature"].head(5).tolist(),
            "sample_rows": len(glob.positions),
            "importance_over": shap_rows_text(inputs, glob),
            "stability_spearman": glob.stability["spearman"],
            "reason_codes": reasons.scope, "reason_code_rows": reasons.rows,
            "review_queue_size": queue["summary"]["size"],
            **({"review_band": queue["summary"]["band"]} if inputs.task == "binary" else
               {"review_queue_by": queue["summary"]["by"], "contributions_in": task_facts["units"]}),
        },
        "limitations": [*governance["default_limitations"], *s.model_card.limitations],
        "monitoring_plan": card_mod.monitoring_plan(getattr(config, "monitoring", None)),
        "risk": {
            "tier": inputs.tier, "tier_source": inputs.tier_source,
            "requires": [c["what"] for c in gate["checks"]],
            "tier_gate": gate["status"], "fairness_gate": fair["gate"],
            **({"training_status": champion.get("status")} if not promotion else {}),
            **({"promotion": status_line(promotion),
                "gates": {n: "passed" if g["passed"] else "failed" for n, g in promotion["gates"].items()}} if promotion else {}),
        },
    }


def _task_facts(inputs: ExplainInputs) -> dict[str, Any]:
    """Model card facts that depend on the task: details, data summary, default intended use, SHAP units."""
    task, target = inputs.task, inputs.spec.target
    metric = (inputs.training.get("task") or {}).get("metric")
    if task == "regression":
        return {"details": {"task": "regression", "headline_metric": metric or "rmse"},
                "data": {"test_target_mean": float(np.mean(inputs.y)), "test_target_std": float(np.std(inputs.y))},
                "use": f"Predict {target} for {{org}}", "units": f"{target} (the target's units)"}
    if task == "multiclass":
        counts = pd.Series(inputs.y).map(dict(enumerate(inputs.classes))).value_counts(normalize=True)
        return {"details": {"task": "multiclass", "headline_metric": metric or "macro_f1", "classes": ", ".join(map(str, inputs.classes))},
                "data": {"test_class_shares": ", ".join(f"{k}: {v:.1%}" for k, v in counts.items())},
                "use": f"Assign one of {len(inputs.classes)} {target} classes for {{org}}",
                "units": "raw score (log-odds scale) of each row's predicted class"}
    details = {"decision_threshold": inputs.threshold}
    if "task" in inputs.training:
        details = {"task": "binary", "headline_metric": metric or "roc_auc", **details}
    return {"details": details, "data": {"test_positive_rate": float(np.mean(inputs.y))},
            "use": f"Flag likely '{inputs.model.positive_class}' cases of {target} for {{org}}", "units": "log-odds"}


def _task_fairness_facts(fair: dict[str, Any]) -> dict[str, Any]:
    """The fairness section of a regression or multiclass model card: each column's figures against its limits."""
    return {
        "gate": fair["gate"],
        "rule": fairness_rule(fair.get("task", "regression")),
        "columns": [
            {"column": c["column"], "status": c["status"], "groups": len(c["groups"]),
             **{name: value for name, value in c["figures"].items()},
             **{f"{name}_interval": _ci_text(c["figures_ci"][name]) for name in c["figures"]},
             "findings": "; ".join(c["findings"]) or "none"}
            for c in fair["columns"]
        ] or [{"column": "none", "status": fair["gate"]}],
    }


def fairness_rule(task: str) -> str:
    """The fairness decision rule of a task, in one sentence with its limits."""
    if task == "binary":
        return "fails when the demographic parity ratio is below its minimum or the equalized odds difference above its maximum"
    rules, dpr = fairness.task_rules(task), fairness.content.load("governance")["fairness"]["demographic_parity_ratio_min"]
    if task == "regression":
        return (f"fails when the worst group's MAE is more than {rules['mae_ratio_max']:g} times the best group's, or the "
                f"groups' mean errors (prediction - actual) differ by more than {rules['mean_error_gap_max']:g} x the overall MAE")
    return (f"fails when group accuracies differ by more than {rules['accuracy_difference_max']:g}, or a class's selection "
            f"rate in one group is below {dpr:g} x its highest (classes predicted at least {rules['min_predicted']} times per group)")


def _ci_text(ci: list[float | None]) -> str:
    """An interval as '[0.81, 0.95]' or 'n/a'."""
    return "n/a" if ci[0] is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def write_model_card(inputs: ExplainInputs, facts: dict[str, Any]) -> dict[str, Any]:
    """Write the model card (Markdown, HTML, JSON) and check it has every section."""
    missing = card_mod.missing_sections(facts)
    if missing:
        raise ArtifactError(f"model card lacks sections {missing}; this is a bug in the explain phase")
    paths = card_mod.write_card(facts, inputs.out_dir)
    return {"paths": paths, "sections": [s["key"] for s in card_mod.card_sections()]}


def _column_record(c: dict[str, Any]) -> dict[str, Any]:
    """One sensitive column's fairness result as plain data."""
    if "figures" in c:  # regression and multiclass
        return {"metrics_by_group": c["groups"], "figures": c["figures"], "figures_ci": c["figures_ci"], "limits": c["limits"],
                "judged_classes": c["judged_classes"], "thresholds": c["thresholds"], "status": c["status"],
                "passed": c["passed"], "findings": c["findings"]}
    return {
        "metrics_by_group": c["groups"], "demographic_parity_ratio": c["demographic_parity_ratio"],
        "demographic_parity_ratio_ci": c["demographic_parity_ratio_ci"],
        "equalized_odds_difference": c["equalized_odds_difference"],
        "equalized_odds_difference_ci": c["equalized_odds_difference_ci"],
        "thresholds": c["thresholds"], "status": c["status"], "passed": c["passed"], "findings": c["findings"],
    }


def _share(x: float) -> str:
    """A rate as a whole percentage, or n/a when undefined."""
    return "n/a" if x != x else f"{x:.0%}"


def headline(glob: GlobalExplanation, fair: dict[str, Any], queue: dict[str, Any], gate: dict[str, Any]) -> tuple[dict[str, str], str]:
    """Headline for index.html (top three drivers, fairness gate, review-queue size) and its status."""
    from kit.promotion import fairness_text

    s = queue["summary"]
    head = {
        "Top drivers": ", ".join(glob.importance["feature"].head(3)),
        "Fairness gate": fairness_text(fair["gate"]),
        "Review queue": _queue_headline(s),
        "Tier gate": f"{gate['tier']} tier: {gate['status']}",
    }
    if gate["status"] == "failed" or fair["gate"] == fairness.FAILED:
        status = "fail"
    elif fair["gate"] != fairness.PASSED:
        status = "warn"
    else:
        status = "ok"
    return head, status


def _queue_headline(s: dict[str, Any]) -> str:
    """One line on the review queue: its size and the error inside against outside."""
    if s.get("error") == "mean absolute error":
        interval = s["interval"]
        return (f"{s['size']:,} rows ({s['share']:.0%}), the widest {interval['coverage']:.0%} prediction intervals "
                f"(coverage on test rows {interval['coverage_test']:.0%}); MAE {s['error_in']:.4g} in the queue vs "
                f"{s['error_out']:.4g} automated")
    return (f"{s['size']:,} rows ({s['share']:.0%}), the most uncertain; error rate "
            f"{_share(s['error_rate_in'])} in the queue vs {_share(s['error_rate_out'])} automated")


def explain_artifact(inputs: ExplainInputs, glob: GlobalExplanation, reasons: ReasonCodes, fair: dict[str, Any],
                     registry_tag: dict[str, Any], queue: dict[str, Any], gate: dict[str, Any],
                     card: dict[str, Any], promotion: dict[str, Any] | None = None) -> dict[str, Any]:
    """The phase artifact: importance, stability, tier and its gate, fairness, review queue, card, reason codes, promotion."""
    from kit.promotion import status_line

    rel = lambda p: str(Path(p).resolve().relative_to(Path(inputs.out_dir).resolve().parent))  # noqa: E731
    head, status = headline(glob, fair, queue, gate)
    if promotion:
        head["Promotion"] = status_line(promotion)
    figures = sorted(rel(p) for p in (inputs.out_dir / "figures").glob("*.png"))
    return {
        "model": {"name": inputs.champion.get("model_name"), "version": inputs.champion.get("version"),
                  "algorithm": inputs.model.algorithm, "threshold": inputs.threshold if inputs.task == "binary" else None},
        **({"task": {"task": inputs.task, "classes": inputs.classes or None, "metric": (inputs.training.get("task") or {}).get("metric"),
                     "fairness_rule": fairness_rule(inputs.task)}} if inputs.task != "binary" else {}),
        "global_importance": glob.importance.drop(columns=["rank"]),
        "shap": {"method": "exact TreeSHAP (booster's own contributions)", **_shap_units(inputs), "sample_rows": len(glob.positions),
                 "sample_seed": inputs.seed, "importance_rows": glob.importance_rows or len(glob.positions),
                 "test_rows": len(inputs.y), "seconds_per_row": glob.seconds_per_row, "budget_seconds": glob.budget_seconds},
        "engine": engine_record(inputs, glob),
        "stability": {k: v for k, v in glob.stability.items() if k not in ("half_a", "half_b")},
        "tier": inputs.tier,
        "tier_source": inputs.tier_source,
        "tier_gate": gate,
        "fairness": {c["column"]: _column_record(c) for c in fair["columns"]},
        "fairness_gate": fair["gate"],
        "fairness_registry_tag": registry_tag,
        "sensitive_inputs": fair.get("sensitive_inputs"),
        "review_queue": {**{k: v for k, v in queue["summary"].items() if k != "path"},
                         "path": rel(queue["summary"]["path"]), "curve": queue["curve"].round(4)},
        "reason_codes": {"path": rel(reasons.path), "scope": reasons.scope, "rows": reasons.rows,
                         "top_k": inputs.settings.reason_codes},
        "model_card": {k: rel(v) for k, v in card["paths"].items()},
        "figures": figures,
        **({"promotion": promotion} if promotion else {}),
        "headline": head,
        "headline_status": status,
    }


def shap_rows_text(inputs: ExplainInputs, glob: GlobalExplanation) -> str:
    """What the importance table is computed over, in words: every test row, or the seeded sample and its size."""
    if glob.importance_rows == EVERY_ROW:
        return (f"importance over every test row ({inputs.n_rows:,}); stability and figures on a seeded sample of "
                f"{len(glob.positions):,} (seed {inputs.seed})")
    if len(glob.positions) == inputs.n_rows:
        return f"every test row ({inputs.n_rows:,}): the time budget allows them all"
    return f"seeded sample of {len(glob.positions):,} of {inputs.n_rows:,} test rows (seed {inputs.seed})"


def engine_record(inputs: ExplainInputs, glob: GlobalExplanation) -> dict[str, Any]:
    """Where phase 3 ran and what it computed where: the rows gathered to the client, by step, and the SHAP rows."""
    importance = glob.importance_rows or len(glob.positions)
    shap = shap_rows_text(inputs, glob)
    if inputs.rows is None:
        return {"name": "local", "where": "in process", "shap": shap}
    client = inputs.rows.lazy.client
    return {
        "name": "dask", "partitions": int(inputs.rows.frame.npartitions),
        "scheduler": getattr(getattr(client, "scheduler", None), "address", None) if client is not None else "in-process",
        "on_workers": ["model output for every test row"]
                      + (["exact SHAP of every test row (sums merged)"] if importance == EVERY_ROW else [])
                      + (["prediction interval widths"] if inputs.task == "regression" else [])
                      + (["reason codes of every test row"] if inputs.tier == "high" else []),
        "gathered_to_client": {"labels, outputs, row ids, sensitive columns": inputs.n_rows, **inputs.rows.gathered},
        "shap": shap,
    }


def _shap_units(inputs: ExplainInputs) -> dict[str, str]:
    """What a regression or multiclass model's contributions are measured in (binary: unchanged, log-odds)."""
    if inputs.task == "regression":
        return {"units": f"{inputs.spec.target} (the target's units): base + contributions = the prediction"}
    if inputs.task == "multiclass":
        return {"units": "per class raw score (softmax input); global ranking sums mean |SHAP| over classes; "
                         "local explanations are for each row's predicted class"}
    return {}


def review_positions(inputs: ExplainInputs) -> np.ndarray:
    """Test-row positions of the review queue: the most uncertain rows, as many as the reviewers' capacity allows."""
    share = review.capacity_share(inputs.settings.review)["share"]
    size = review.queue_size(share, len(inputs.proba))
    if inputs.task != "binary":
        return review.uncertain_positions(uncertainty(inputs)["uncertainty"], size)
    return review.queue_positions(inputs.proba, inputs.threshold, size, inputs.settings.review_band)


def review_errors(queue: dict[str, Any]) -> pd.DataFrame:
    """The review queue's rows, errors and error rate beside the automated rows' (labelled test rows)."""
    s = queue["summary"]
    if "error" in s:  # regression and multiclass: the task's error inside and outside the queue
        return pd.DataFrame({"rows": [s["size"], s["automated"]], s["error"]: [s["error_in"], s["error_out"]]},
                            index=pd.Index(["review queue", "automated"], name="test rows"))
    return review.error_table(s)


def check_group_labels(group_labels: dict[str, Any], sensitive: list[str]) -> None:
    """Raise a DataError naming a column with group labels that is not a sensitive column of the trained dataset."""
    for column in group_labels:
        if column not in sensitive:
            raise DataError(
                f"explainability.fairness.group_labels.{column}: not a sensitive column of the trained dataset "
                f"({', '.join(sensitive) or 'none'}){did_you_mean(column, sensitive)}; fix the name or add it to dataset.sensitive"
            )


def check_sensitive_inputs(inputs: ExplainInputs, fair: dict[str, Any]) -> pd.DataFrame:
    """Sensitive columns used as model inputs: a finding, and at the compare tiers their effect measured by one refit."""
    from kit.explain import sensitive

    used = sensitive.sensitive_inputs(list(inputs.model.features), list(inputs.spec.sensitive))
    record: dict[str, Any] = {"used": used, "setting": inputs.spec.sensitive_as_input, "compared": False}
    if used and inputs.task != "binary":
        return _sensitive_note_only(inputs, fair, used, record)
    fair["sensitive_inputs"] = record
    if not used:
        state = ("excluded from training (dataset.sensitive_as_input: exclude)" if inputs.spec.sensitive_as_input == "exclude"
                 else "not among the model's features")
        record["note"] = f"sensitive columns {', '.join(inputs.spec.sensitive) or '(none)'}: {state}"
        return pd.DataFrame({"sensitive inputs": [record["note"]]})
    table, seconds = None, None
    compare = inputs.tier in sensitive.rules()["compare_tiers"]
    if compare and inputs.rows is not None:  # the refit needs the whole training split in this process
        record["not_compared"] = (f"not measured on the Dask engine (the refit without them runs in process on the whole "
                                  f"training split); run phase 3 on the local engine to measure it")
    elif compare:
        table, seconds = _sensitive_comparison(inputs, used, fair["columns"])
        record |= {"compared": True, "seconds": round(seconds, 3), "comparison": table.reset_index().round(4)}
        inputs.out_dir.mkdir(parents=True, exist_ok=True)
        escape.to_csv(table.round(6), inputs.out_dir / "sensitive_inputs.csv", index=True)
    record["note"] = sensitive.summary(used, table, seconds)
    findings = {c: _input_finding(inputs, c, used, table, seconds, record.get("not_compared")) for c in used}
    if "not_compared" in record:
        record["note"] = f"sensitive columns {', '.join(used)} are model inputs; their effect is {record['not_compared']}"
    for column in fair["columns"]:  # replaces an earlier run's note, so a re-run cell does not repeat it
        if column["column"] in used:
            kept = [f for f in column["findings"] if not f.startswith(f"{column['column']!r} is a model input")]
            column["findings"] = [*kept, findings[column["column"]]]
    if table is None:
        return pd.DataFrame({"sensitive inputs": list(findings.values())})
    return table


def _input_finding(inputs: ExplainInputs, column: str, used: list[str], table: pd.DataFrame | None, seconds: float | None,
                   not_compared: str | None) -> str:
    """The finding of one sensitive input column: what leaving the sensitive inputs out changes, or why it was not measured."""
    from kit.explain import sensitive

    if not_compared is None:
        return sensitive.finding(column, used, table, inputs.tier, seconds)
    fix = "to keep sensitive columns out of training set dataset.sensitive_as_input: exclude"
    return f"{column!r} is a model input at the {inputs.tier} tier; the effect of removing it is {not_compared}; {fix}"


def _sensitive_note_only(inputs: ExplainInputs, fair: dict[str, Any], used: list[str], record: dict[str, Any]) -> pd.DataFrame:
    """Sensitive inputs of a regression or multiclass model: named as a finding (the refit comparison is binary-only)."""
    fix = "to keep sensitive columns out of training set dataset.sensitive_as_input: exclude"
    record["note"] = (f"sensitive column(s) {', '.join(used)} are model inputs; the refit without them is measured for "
                      f"binary models only; {fix}")
    for column in fair["columns"]:
        if column["column"] in used:
            kept = [f for f in column["findings"] if not f.startswith(f"{column['column']!r} is a model input")]
            column["findings"] = [*kept, f"{column['column']!r} is a model input; {fix}"]
    return pd.DataFrame({"sensitive inputs": [record["note"]]})


def _sensitive_comparison(inputs: ExplainInputs, used: list[str], fair_columns: list[dict[str, Any]]) -> tuple[pd.DataFrame, float]:
    """Refit without the sensitive inputs on the recorded split; metrics and fairness gaps with and without."""
    from kit.explain import sensitive

    train, valid = sensitive.train_valid(Path(inputs.out_dir).parent)
    refit = sensitive.refit_without(inputs.model, used, train, valid, inputs.X, inputs.config.training,
                                    inputs.training.get("costs"))
    with_scores, without_scores = (inputs.proba, inputs.threshold), (refit.test_proba, refit.model.threshold)
    rows = sensitive.metric_rows(inputs.y, with_scores, without_scores, sensitive.rules()["metrics"])
    columns = {c: inputs.X[c] for c in inputs.spec.sensitive}
    rows += sensitive.fairness_rows(fair_columns, columns, inputs.y, without_scores, inputs.settings.fairness, inputs.seed)
    return sensitive.comparison_table(rows), refit.seconds
