"""The training phase step by step, as the notebook runs it (I/O and orchestration only).

Each method of :class:`TrainingRun` does one step with the pure functions of this package,
keeps its result on the run, and returns something small to show. Nothing is registered
unless every earlier step succeeded, and only ever as a *candidate*: the promotion decision is
taken after phase 3 (:mod:`kit.promotion`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit import content
from kit.errors import DataError, KitError
from kit.promotion import PENDING_PHASE3, illustrative_pilot
from kit.schema import DatasetSpec
from kit.training import data as tdata
from kit.training import gates as tgates
from kit.tasks import TaskDecision, higher_is_better, resolve_task, selection_metric
from kit.training.contract import contract_summary, infer_contract, save_contract, target_lag_columns, validate
from kit.training.quality import near_perfect_baseline
from kit.training.pipeline import (
    candidate_metrics,
    evaluate,
    select_best,
    set_thresholds,
    train_candidates,
)

MODEL_DIR = Path("artifacts") / "model"


def resolve_dataset(config: Any, pilot: dict[str, Any] | None) -> DatasetSpec:
    """The pilot's dataset spec (use-case artifact) if it has one, else the config's ``dataset``."""
    raw = (pilot or {}).get("dataset")
    if raw:
        base = config.source_path.parent if config.source_path else Path.cwd()
        return DatasetSpec.model_validate(raw, context={"base_dir": base})
    if config.dataset is None:
        raise DataError(
            "dataset: no dataset to train on; add a `dataset:` section (path, target, positive_class) "
            "to the config, or pick a pilot use case that names one"
        )
    return config.dataset


def resolve_costs(settings: Any, pilot: dict[str, Any] | None) -> tuple[dict[str, float] | None, str]:
    """Error costs and their source: ``training.costs`` if set (the user wins), else the pilot's, else none."""
    if settings.costs:
        return settings.costs.model_dump(), "config (training.costs)"
    costs = (pilot or {}).get("costs") or {}
    if costs.get("false_positive") is not None and costs.get("false_negative") is not None:
        pair = {"false_positive": float(costs["false_positive"]), "false_negative": float(costs["false_negative"])}
        return pair, f"portfolio (pilot {pilot.get('name')})"
    return None, "default (none: the threshold maximizes F1)"


def feature_fingerprint(target: str, features: list[str]) -> str:
    """Short fingerprint of a model's lineage: the target and the sorted feature names (not the data)."""
    text = json.dumps([target, sorted(map(str, features))])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def default_model_name(run_name: str | None, target: str, features: list[str] | None = None) -> str:
    """Registered model name ``<run name>-<target>-<fingerprint>`` in lowercase letters, digits and dashes."""
    tail = f"-{feature_fingerprint(target, features)}" if features is not None else ""
    return re.sub(r"[^a-z0-9]+", "-", f"{run_name or 'kit'}-{target}".lower()).strip("-") + tail


def run_client(config: Any) -> Any | None:
    """The run's Dask client, or None on the local engine (decided without importing dask)."""
    from kit.compute.engine import effective

    if effective(config.compute).engine == "local":
        return None
    from kit.compute.lazy import phase_client

    return phase_client(config)


def _source(settings: Any, key: str) -> str:
    """'config' when the user set ``training.<key>``, else 'default'."""
    return f"config (training.{key})" if key in settings.model_fields_set else "default"


class TrainingRun:
    """State of one training phase run; each method is one notebook step."""

    def __init__(self, ctx: Any) -> None:
        """Resolve what to train on and every decision input with its source (config, portfolio, default)."""
        from kit.explain.tiers import resolve_tier

        self.ctx, self.config = ctx, ctx.config
        self.settings, self.seed = ctx.config.training, ctx.config.seed
        use_cases = ctx.read("use_cases", required=False) or {}
        pilot: dict[str, Any] = use_cases.get("pilot") or {}
        self.illustrative = illustrative_pilot(self.config, use_cases)
        self.pilot = {k: v for k, v in pilot.items() if k in ("name", "dataset")} if self.illustrative else pilot
        self.spec = resolve_dataset(self.config, self.pilot)
        self.decision = early_task(self.spec)
        self.task = self.decision.task if self.decision else "binary"
        self.metric = selection_metric(self.settings, self.task)
        self.costs, costs_source = resolve_costs(self.settings, self.pilot)
        if self.task != "binary":
            self.costs, costs_source = None, f"not used: a {self.task} model has no decision threshold (binary only)"
        self.kpi = tgates.pilot_kpi(self.pilot)
        self.stakes = self.settings.stakes or self.pilot.get("stakes")
        stakes_source = ("config (training.stakes)" if self.settings.stakes else
                         f"portfolio (pilot {self.pilot.get('name')})" if self.stakes else "default (not given)")
        self.require_approval = tgates.approval_required(self.settings.require_approval, self.stakes)
        self.tier, tier_source = resolve_tier(self.config.explainability.tier, use_cases, self.illustrative, self.settings.stakes)
        self.experiment = self.settings.experiment or f"kit/{self.config.name or 'run'}"
        self.notes: list[str] = []
        if self.illustrative and pilot:
            self.notes.append(f"the pilot {pilot.get('name')!r} comes from the bundled illustrative portfolio: its costs, KPI "
                              "and stakes are not used on your data; set training.costs / training.stakes, or "
                              "use_cases.portfolio_path for your own portfolio")
        rules = content.load("training")["promotion"]
        self.min_test_rows = self.settings.min_test_rows or rules["min_test_rows"]
        self.min_test_class = self.settings.min_test_class_count or rules["min_test_class_count"]
        s = self.settings
        self.sources: dict[str, tuple[str, str]] = {
            "task": (self.task, self.decision.reason if self.decision else "decided when the data loads"),
            "error costs": (f"FP {self.costs['false_positive']:g}, FN {self.costs['false_negative']:g}" if self.costs
                            else "none (threshold maximizes F1)" if self.task == "binary" else "none", costs_source),
            "pilot KPI gate": (f"{self.kpi['metric']} {'>=' if higher_is_better(self.kpi['metric']) else '<='} {self.kpi['threshold']:g}"
                               if self.kpi else "none that is a model metric",
                               f"portfolio (pilot {self.pilot.get('name')})" if self.kpi else "default (none)"),
            "stakes": (self.stakes or "not given", stakes_source),
            "explainability tier": (self.tier, tier_source),
            "human sign-off": ("required after phase 3" if self.require_approval else "not required",
                               "config (training.require_approval)" if s.require_approval is not None else f"stakes ({self.stakes or 'not given'})"),
            "selection metric": (self.metric, _source(s, "selection_metric")
                                 + ("" if self.task == "binary" or "selection_metric" in s.model_fields_set else f" (the {self.task} headline metric)")),
            "decision threshold": ((f"{s.threshold:g}" if s.threshold else
                                    "chosen on validation: " + ("lowest error cost" if self.costs else "highest F1"), _source(s, "threshold"))
                                   if self.task == "binary" else ("none", f"a {self.task} model has no threshold (binary only)")),
            "baseline margin": (f"{s.baseline_margin:g}", _source(s, "baseline_margin")),
            "regression tolerance": (f"{s.regression_tolerance:g}", _source(s, "regression_tolerance")),
            "contract tolerance": (f"{s.contract_tolerance:g}", _source(s, "contract_tolerance")),
            "minimum test rows": (f"{self.min_test_rows}", _source(s, "min_test_rows") + ("" if s.min_test_rows else " (kit/content/training.yaml)")),
            "minimum test rows per class": ((f"{self.min_test_class}", _source(s, "min_test_class_count")
                                             + ("" if s.min_test_class_count else " (kit/content/training.yaml)"))
                                            if self.task != "regression" else ("none", "regression has no classes")),
        }
        self.gates: dict[str, dict[str, Any]] = {}
        self.outcome: dict[str, Any] = {}
        self.client = run_client(self.config)  # None: every step runs in this process, as always
        self.engine: dict[str, Any] = {"name": "local"}

    @property
    def model_name(self) -> str:
        """Registered model name: ``training.model_name``, else run, target and a feature fingerprint."""
        if self.settings.model_name:
            return self.settings.model_name
        return default_model_name(self.config.name, self.spec.target, getattr(self, "features", None))

    # ---- 1. inputs and data ---------------------------------------------------------------
    def inputs(self) -> pd.DataFrame:
        """What this run trains on and every decision input with its source (config, portfolio, default)."""
        facts = {
            "dataset": (self.spec.name or self.spec.path.name, "pilot use case" if self.pilot.get("dataset") else "config (dataset)"),
            "target (positive class)": (f"{self.spec.target} ({self.spec.positive_class if self.spec.positive_class is not None else 'inferred'})"
                                        if self.task == "binary" else f"{self.spec.target} ({self.task}: no positive class)", "dataset spec"),
            **self.sources,
            "registered model": (self.model_name if self.settings.model_name or hasattr(self, "features")
                                 else f"{self.model_name}-<fingerprint of target and features>",
                                 _source(self.settings, "model_name")),
            "seed": (str(self.seed), "config (seed)" if "seed" in self.config.model_fields_set else "default"),
        }
        return pd.DataFrame({"value": [str(v) for v, _ in facts.values()], "source": [src for _, src in facts.values()]},
                            index=pd.Index(list(facts), name="setting"))

    def decision_inputs(self) -> list[dict[str, str]]:
        """Every decision input with its value and source, for the artifact."""
        table = self.inputs()
        return [{"input": k, "value": r.value, "source": r.source} for k, r in zip(table.index, table.itertuples())]

    def load(self) -> pd.DataFrame:
        """Load and type the data, encode the target; returns a per-dtype summary."""
        from kit.data import dataset_sha256

        if self.client is None:
            with warnings.catch_warnings():  # the same notes are shown by the notebook and kept in the artifact
                warnings.simplefilter("ignore", tdata.DataWarning)
                self.frame = tdata.load_dataset(self.spec)
            self.notes += self.frame.attrs.get("kit_notes", [])
            self.rows, labels, dtypes = len(self.frame), self.frame[self.spec.target], self.frame.dtypes
        else:  # the rows stay on the workers; only the target column comes back
            from kit.training import dask_steps

            self.lazy = dask_steps.load_frame(self.spec, self.client)
            self.frame = self.lazy.frame  # lazy: a Dask DataFrame indexed by row position
            self.notes += self.lazy.notes
            self.rows, labels, dtypes = self.lazy.rows, self.lazy.column(self.spec.target), self.lazy.frame.dtypes
            self.engine = dask_steps.engine_record(self.client, self.spec, self.lazy.frame.npartitions)
        if self.rows < self.settings.min_rows:
            raise DataError(
                f"{self.spec.path.name}: {self.rows} labelled rows, fewer than training.min_rows "
                f"({self.settings.min_rows}); add data or lower training.min_rows (not below 50)"
            )
        self.target = tdata.encode_task_target(labels, self.spec.positive_class,
                                               self.task if self.decision else self.spec.task)
        if self.decision is None:
            self.decision = TaskDecision(self.target.task, self.target.reason)
            self.task, self.metric = self.target.task, selection_metric(self.settings, self.target.task)
        self.y = self.target.y
        self.sha256 = dataset_sha256(self.spec.path)
        kinds = dtypes.astype(str).value_counts()
        return pd.DataFrame({
            "rows": [self.rows], "columns": [len(dtypes)], **self._target_facts(),
            "column types": [", ".join(f"{k}: {v}" for k, v in kinds.items())],
        })

    def _target_facts(self) -> dict[str, list[Any]]:
        """The target in a few numbers: positive class and share, the classes, or the range of the values."""
        y = self.y
        if self.task == "multiclass":
            return {"task": ["multiclass"], "classes": [len(self.target.classes)],
                    "largest class share": [round(float(np.bincount(y).max() / len(y)), 4)]}
        if self.task == "regression":
            return {"task": ["regression"], "target mean": [round(float(y.mean()), 4)],
                    "target range": [f"{y.min():g} to {y.max():g}"]}
        return {"positive class": [str(self.target.positive_class)], "positive share": [round(float(y.mean()), 4)]}

    def task_decision(self) -> dict[str, str]:
        """The task this run trains for, why, and its headline metric (``self.metric`` selects and gates: the same unless set)."""
        from kit.tasks import headline_metric

        return {"task": self.task, "reason": self.decision.reason, "metric": headline_metric(self.task),
                "selection_metric": self.metric}

    def check_quality(self) -> pd.DataFrame:
        """Quality report, and the leakage screen on the training rows; decides the feature list."""
        from kit.training.quality import quality_report

        if not hasattr(self, "split"):
            raise KitError("run.make_split() comes before run.check_quality(): the leakage screen looks only at training rows")
        candidates = tdata.feature_columns(self.frame, self.spec)
        if self.client is None:
            self.quality = quality_report(self.frame, self.spec, candidates, self.y, self.settings.drop_leaky, self.seed,
                                          rows=self.split.parts["train"], leakage_auc=self.settings.leakage_auc,
                                          task=self.task, classes=self.target.classes)
        else:
            from kit.compute.checks import quality_report_dask

            self.quality = quality_report_dask(self.lazy.frame, self.spec, candidates, self.y, self.settings.drop_leaky,
                                               self.seed, rows=self.split.parts["train"],
                                               leakage_auc=self.settings.leakage_auc, task=self.task,
                                               classes=self.target.classes, client=self.client)
        self.notes += self.quality.notes
        self.features = [c for c in candidates if c not in self.quality.excluded]
        if not self.features:
            raise DataError(f"{self.spec.path.name}: no usable feature columns left; check dataset.drop_columns and id_columns")
        return self.quality.table()

    def make_split(self) -> pd.DataFrame:
        """Draw and record the train/valid/test split (artifacts/split.json)."""
        s = self.settings
        if self.client is None:
            self.split = tdata.make_split(self.frame, self.y, s.valid_size, s.test_size, self.seed, self.spec.time_column,
                                          self.spec.time_format, self.spec.rows_in_time_order, self.task)
        else:  # the same positions from the gathered target (and time column); the hash computed per partition
            from kit.training import dask_steps

            columns = dask_steps.split_columns(self.lazy, self.spec.time_column)
            self.split = tdata.make_split(pd.DataFrame() if columns is None else columns, self.y, s.valid_size,
                                          s.test_size, self.seed, self.spec.time_column, self.spec.time_format,
                                          self.spec.rows_in_time_order, self.task)
            self.split.data_hash = self.lazy.data_hash()
        self.split_path = tdata.save_split(self.ctx.run_dir, self.split, self.spec)
        return self.split.summary(self.y)

    def part(self, name: str) -> tuple[pd.DataFrame, np.ndarray]:
        """(features, labels) of one split part (on Dask the features are lazy, in row-position order)."""
        idx = self.split.parts[name]
        if self.client is not None:
            return self.lazy.subset(idx)[self.features], self.y[idx]
        return self.frame.iloc[idx][self.features], self.y[idx]

    # ---- 2. contract ----------------------------------------------------------------------
    def build_contract(self) -> pd.DataFrame:
        """Infer the contract on training rows, save it, and validate the test rows with it."""
        X_train, _ = self.part("train")
        if self.client is None:
            self.contract = infer_contract(X_train, self.features, name=f"{self.model_name} features",
                                           unbounded=target_lag_columns(self.spec))
        else:
            from kit.compute.checks import infer_contract_dask

            self.contract = infer_contract_dask(X_train, self.features, name=f"{self.model_name} features",
                                                unbounded=target_lag_columns(self.spec), client=self.client)
        self.contract_path = save_contract(self.contract, self.ctx.artifacts / "contract.json")
        if self.client is None:
            self.contract_check = validate(self.contract, self.part("test")[0])
        else:
            from kit.compute.checks import validate_dask

            self.contract_check = validate_dask(self.contract, self.part("test")[0], client=self.client)
        return contract_summary(self.contract)

    # ---- 3. candidates --------------------------------------------------------------------
    def train(self) -> pd.DataFrame:
        """Fit baselines and models, choose thresholds on validation, rank on test."""
        (Xtr, ytr), (Xva, yva), (Xte, yte) = self.part("train"), self.part("valid"), self.part("test")
        meta = {"target": self.spec.target, "positive_class": self.target.positive_class,
                "negative_class": self.target.negative_class, "task": self.task, "classes": self.target.classes}
        if self.client is None:
            self.candidates = train_candidates(Xtr, ytr, Xva, yva, self.settings, self.seed, costs=self.costs, **meta)
        else:  # boosters on the cluster, baselines on a stated sample; every score computed per partition
            from kit.training.dask_steps import train_candidates_dask

            self.candidates, facts = train_candidates_dask(self.lazy, self.split.parts, self.y, self.features,
                                                           self.settings, self.seed, costs=self.costs, **meta)
            self.engine.update(facts)
            Xte = None  # evaluate takes the test scores computed on the workers
        self.training_notes = [n for c in self.candidates for n in c.notes]
        if self.client is not None:
            from kit.training.dask_steps import sample_notes

            self.training_notes += sample_notes(self.engine)
        self.notes += self.training_notes
        set_thresholds(self.candidates, yva, self.costs, self.settings.threshold)
        self.leaderboard = evaluate(self.candidates, Xte, yte, self.metric, yva)
        self.best = select_best(self.candidates, yva, self.metric)
        table = candidate_metrics(self.best, yte, self.settings.bootstrap, self.seed, self.settings.confidence)
        self.metric_notes = table.attrs.get("omitted", [])
        self.notes += self.metric_notes
        per_class = table.index.str.startswith("recall[")
        self.metrics, self.per_class = table[~per_class], self._per_class(table[per_class])
        return self.leaderboard

    def _per_class(self, recall: pd.DataFrame) -> pd.DataFrame | None:
        """Multiclass: test rows and recall (with its interval) per class, by label; None for the other tasks."""
        if self.task != "multiclass":
            return None
        counts = np.bincount(self.part("test")[1], minlength=len(self.target.classes))
        table = recall.set_axis([str(c) for c in self.target.classes]).rename_axis("class")
        return table.rename(columns={"value": "recall"}).assign(test_rows=counts)[["test_rows", "recall", "low", "high"]]

    def test_scores(self) -> dict[str, np.ndarray]:
        """Test-row scores of every candidate but the constant majority baseline."""
        return {c.name: c.extra["test_proba"] for c in self.candidates if c.name != "majority"}

    def champion_test(self) -> tuple[np.ndarray, np.ndarray, float, tuple[str, str]]:
        """(test labels, selected model's test scores, its threshold, (negative, positive) label names)."""
        labels = (str(self.target.negative_class), str(self.target.positive_class))
        return self.part("test")[1], self.best.extra["test_proba"], self.best.threshold, labels

    def business_value(self) -> pd.DataFrame | None:
        """Cost of the selected model's errors versus acting on nobody or everybody (when costs are set)."""
        from kit.training.metrics import business_value

        if not self.costs or self.task != "binary":
            return None
        value = business_value(self.part("test")[1], self.best.extra["test_proba"], self.best.threshold, self.costs)
        return pd.DataFrame({"test rows": value}).round(3)

    # ---- 4. gates and registry ------------------------------------------------------------
    def _registry(self) -> Any:
        """The MLflow registry (opened on first use)."""
        if not hasattr(self, "_reg"):
            from kit.training.registry import Registry

            self._reg = Registry(self.settings.tracking_uri)
        return self._reg

    def _champion_score(self) -> tuple[float | None, str | None, str | None]:
        """Current champion's selection metric on this run's test rows, its version, and why it is not comparable."""
        if not self.settings.track:
            return None, None, None
        from kit.training.metrics import task_metrics
        from kit.training.scoring import ScoringModel

        reg = self._registry()
        version = reg.champion_version(self.model_name)
        if version is None:
            return None, None, None
        try:
            with reg.model_files(self.model_name, version) as folder:  # removed once loaded
                model = ScoringModel.load(folder)
        except DataError:
            return None, version, None
        if model.task != self.task:
            return None, version, f"another task ({model.task}, this model: {self.task})"
        if self.task == "multiclass" and list(model.classes) != list(self.target.classes):
            return None, version, f"other classes ({model.classes}, this model: {self.target.classes})"
        if str(model.target) != str(self.spec.target):
            return None, version, f"another target ({model.target!r}, this model: {self.spec.target!r})"
        if sorted(model.features) != sorted(self.features):
            extra, gone = sorted(set(model.features) - set(self.features)), sorted(set(self.features) - set(model.features))
            return None, version, f"other features (only the champion has {extra or 'none'}; only this model has {gone or 'none'})"
        try:
            if self.client is not None:
                from kit.training.dask_steps import model_test_scores, score_width

                y_test, positions = self.part("test")[1], self.split.parts["test"]
                predicted = model_test_scores(self.lazy, model, positions, score_width(self.task, self.target.classes))
                return task_metrics(self.task, y_test, predicted, model.threshold)[self.metric], version, None
            X_test, y_test = self.frame.iloc[self.split.parts["test"]], self.part("test")[1]
            predicted = model.predict(X_test) if self.task == "regression" else model.predict_proba(X_test)
            scores = task_metrics(self.task, y_test, predicted, model.threshold)
        except DataError:
            return None, version, None
        return scores[self.metric], version, None

    def check_gates(self) -> pd.DataFrame:
        """Evaluate the training gates on the selection metric; sign-off, tier and fairness come after phase 3."""
        s, metric = self.settings, self.metric
        row = self.leaderboard.set_index("candidate")
        base_name, base_value = tgates.best_baseline(row[row["kind"] == "baseline"][metric], metric)
        model_value = float(row.loc[self.best.name, metric])
        champion_value, champion_version, not_comparable = self._champion_score()
        self.champion_before = champion_version
        gates = {
            "data contract": tgates.contract_gate(
                self.contract_check.passed, self.contract_check.to_dict()["failures"], self.contract_check.rows, s.contract_tolerance),
            "test evidence": tgates.test_evidence_gate(self.part("test")[1], self.min_test_rows, self.min_test_class,
                                                       self.task, self.target.classes),
            "beats baseline": tgates.baseline_gate(model_value, base_value, base_name, s.baseline_margin, metric),
            "no regression": tgates.regression_gate(model_value, champion_value, champion_version, s.regression_tolerance,
                                                    metric, not_comparable),
        }
        leak = near_perfect_baseline(self.leaderboard, self.task, self.candidates)
        if leak:  # say why the gate reads as it does (a pass over such a baseline is no better evidence)
            gates["beats baseline"]["reason"] += f"; {leak}"
            self.notes.append(f"suspected leak: {leak}")
        kpi = tgates.kpi_gate(self.kpi, self.metrics["value"].to_dict())
        if kpi is not None:
            gates["pilot KPI"] = kpi
        self.gates = gates
        return tgates.gate_table(gates)

    def register(self) -> dict[str, Any]:
        """Save the model, log every candidate to MLflow and register the selected one as a candidate version.

        The ``champion`` alias never moves here: the promotion decision is taken after phase 3's evidence.
        """
        model_dir = self.best.model.save(self.ctx.run_dir / MODEL_DIR)
        failed = tgates.failed(self.gates)
        pending = (f"candidate: training gates failed ({', '.join(failed)})" if failed else PENDING_PHASE3)
        self.outcome = {"model_name": self.model_name, "algorithm": self.best.name, "version": None,
                        "status": "candidate", "pending": pending, "failed_gates": failed, "run_ids": {}}
        if not self.settings.track:
            self.outcome["failed_gates"] = failed + ["registration off (training.track: false)"]
            self.outcome["pending"] = "candidate: not registered (training.track: false)"
            return self.outcome
        reg = self._registry()
        tags = {"dataset_sha256": self.sha256, "data_hash": self.split.data_hash, "split_index_hash": self.split.index_hash,
                "model_name": self.model_name, "run_dir": str(self.ctx.run_dir), "seed": str(self.seed)}
        board = self.leaderboard.set_index("candidate")
        for cand in self.candidates:  # four candidates: one MLflow run each
            metrics = {f"test_{k}": board.loc[cand.name, k] for k in self._logged_metrics()}
            metrics[f"valid_{self.metric}"] = board.loc[cand.name, f"valid_{self.metric}"]
            selected = cand is self.best
            if selected:
                metrics |= {f"test_{m}_low": v for m, v in self.metrics["low"].items()} | {f"test_{m}_high": v for m, v in self.metrics["high"].items()}
            task_param = {"threshold": cand.threshold} if self.task == "binary" else {"task": self.task}
            params = {**cand.params, **task_param, "trees": cand.trees}
            run_id = reg.log_candidate(
                self.experiment, cand.name, params,
                {k: v for k, v in metrics.items() if not pd.isna(v)}, {**tags, "kind": cand.kind, "selected": str(selected)},
                model_dir=model_dir if selected else None, files=[self.contract_path, self.split_path] if selected else None,
            )
            self.outcome["run_ids"][cand.name] = run_id
        lineage = {"target": self.spec.target, "features": json.dumps(sorted(self.features)),
                   "feature_fingerprint": feature_fingerprint(self.spec.target, self.features),
                   "selection_metric": self.metric, "status_reason": pending, "task": self.task}
        if self.task == "multiclass":
            lineage["classes"] = json.dumps(self.target.classes)
        gate_tags = {f"gate.{k}": "passed" if g["passed"] else "failed" for k, g in self.gates.items()}
        self.outcome["version"] = reg.register(self.model_name, self.outcome["run_ids"][self.best.name], gate_tags | lineage)
        return self.outcome

    def _logged_metrics(self) -> tuple[str, ...]:
        """The test metrics logged to MLflow for each candidate."""
        from kit.training.metrics import task_metric_names

        if self.task == "binary":
            return ("roc_auc", "pr_auc", "log_loss", "brier", "f1", "recall", "precision", "accuracy")
        return task_metric_names(self.task)

    def confusion(self) -> dict[str, Any] | None:
        """The selected model's test confusion matrix: binary counts at the threshold, multiclass K x K by label; regression none."""
        if self.task == "regression":
            return None
        if self.task == "binary":
            return {k: int(self.leaderboard.set_index("candidate").loc[self.best.name, k]) for k in ("tp", "fp", "fn", "tn")}
        from kit.training.metrics import confusion_counts

        k = len(self.target.classes)
        counts = confusion_counts(self.part("test")[1], self.best.extra["test_proba"].argmax(1), k)
        return {"labels": self.target.classes, "rows_actual_columns_predicted": counts.tolist()}

    def headline_metric(self) -> tuple[str, str]:
        """The headline entry for the index: 'Test <metric>' and its value with the interval."""
        from kit import content

        from kit.tasks import headline_metric

        metric = headline_metric(self.task)  # the task's headline, whichever metric selected the model
        label = "AUC" if metric == "roc_auc" else content.load("training")["metrics"][metric]["label"]
        row = self.metrics.loc[metric]
        return f"Test {label}", f"{row['value']:.3f} [{row['low']:.3f}, {row['high']:.3f}]"

    # ---- 5. artifact ----------------------------------------------------------------------
    def artifact(self) -> dict[str, Any]:
        """The ``training`` artifact: dataset, contract, quality, split, leaderboard, champion, gates, headline."""
        metrics = self.metrics.reset_index(names="metric")
        binary = self.task == "binary"
        champion = {
            "model_name": self.model_name, "version": self.outcome.get("version"), "algorithm": self.best.name,
            "status": self.outcome.get("status", "candidate"), "threshold": self.best.threshold if binary else None,
            "threshold_objective": ("lowest error cost" if self.costs else "highest F1") if binary else f"none ({self.task})",
            "features": self.features, "categories": self.best.model.categories,
            "metrics": {r.metric: {"value": r.value, "low": r.low, "high": r.high} for r in metrics.itertuples()},
            "confusion_matrix": self.confusion(), "task": self.task, "classes": self.target.classes,
            "model_dir": str(MODEL_DIR), "tracking_uri": self._registry().uri if self.settings.track else None,
            "previous_champion": getattr(self, "champion_before", None), "failed_gates": self.outcome.get("failed_gates", []),
            "target": self.spec.target, "feature_fingerprint": feature_fingerprint(self.spec.target, self.features),
        }
        passed = sum(g["passed"] for g in self.gates.values())
        status = "warn"  # a candidate until phase 3 decides
        if not self.gates.get("data contract", {"passed": True})["passed"]:
            status = "fail"
        if self.per_class is not None:
            champion["per_class"] = self.per_class.reset_index().to_dict(orient="records")
        head_name, head_value = self.headline_metric()
        return {
            "task": self.task_decision(),
            "dataset": {"name": self.spec.name, "path": str(self.spec.path), "sha256": self.sha256, "rows": self.rows,
                        "target": self.spec.target, "positive_class": self.target.positive_class,
                        "negative_class": self.target.negative_class, "spec": self.spec.model_dump(mode="json")},
            "contract": {"path": str(self.contract_path.relative_to(self.ctx.run_dir)), "columns": len(self.features),
                         "summary": contract_summary(self.contract).to_dict(orient="records"),
                         "test_check": self.contract_check.to_dict()},
            "quality": self.quality.to_dict(),
            "warnings": self.notes,
            "split": {k: v for k, v in tdata.split_record(self.split, self.spec).items() if k != "positions"}
                     | {"path": str(self.split_path.relative_to(self.ctx.run_dir))},
            "costs": self.costs, "pilot_kpi": self.kpi, "stakes": self.stakes, "tier": self.tier,
            "signoff_required": self.require_approval, "selection_metric": self.metric,
            "decision_inputs": self.decision_inputs(),
            "promotion": {"status": "candidate", "version": champion["version"], "reasons": [self.outcome.get("pending", PENDING_PHASE3)],
                          "gates": self.gates, "failed_gates": champion["failed_gates"], "signoff_required": self.require_approval},
            "leaderboard": self.leaderboard.drop(columns=["tp", "fp", "fn", "tn"], errors="ignore").to_dict(orient="records"),
            "champion": champion,
            "gates": self.gates,
            "registry": {"experiment": self.experiment, "run_ids": self.outcome.get("run_ids", {})},
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "headline": {
                "Model": f"{self.best.name} v{champion['version'] or '-'} ({champion['status']})",
                "Promotion": self.outcome.get("pending", PENDING_PHASE3),
                head_name: head_value,
                "Gates": f"{passed}/{len(self.gates)} passed" + (f"; failed: {', '.join(tgates.failed(self.gates))}" if passed < len(self.gates) else ""),
            },
            "headline_status": status,
            "engine": self.engine,
        }


def early_task(spec: DatasetSpec) -> TaskDecision | None:
    """The task decided from the target column alone (before the full load), or None when it cannot be read yet."""
    from kit.data import read_column

    try:
        labels = read_column(spec.path, spec.target, spec.read_options)
    except KitError:
        return None  # the full load names the problem (missing file or column)
    return resolve_task(tdata.whole_numbers(labels.dropna()), spec.task)


def give_signoff(ctx: Any, who: str, why: str) -> dict[str, Any]:
    """Sign off this run's candidate after reading the phase-3 evidence; promotes it if every other gate passed."""
    from kit.promotion import give_signoff as signoff

    return signoff(ctx.run_dir, who, why)
