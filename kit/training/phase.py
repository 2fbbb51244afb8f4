"""The training phase step by step, as the notebook runs it (I/O and orchestration only).

Each method of :class:`TrainingRun` does one step with the pure functions of this package,
keeps its result on the run, and returns something small to show. Nothing is registered
unless every earlier step succeeded.
"""
from __future__ import annotations

import datetime as dt
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit.errors import DataError, KitError
from kit.schema import DatasetSpec
from kit.training import data as tdata
from kit.training import gates as tgates
from kit.training.contract import contract_summary, infer_contract, save_contract, validate
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


def resolve_costs(settings: Any, pilot: dict[str, Any] | None) -> dict[str, float] | None:
    """Error costs: the pilot's {false_positive, false_negative} if given, else ``training.costs``."""
    costs = (pilot or {}).get("costs") or {}
    if costs.get("false_positive") is not None and costs.get("false_negative") is not None:
        return {"false_positive": float(costs["false_positive"]), "false_negative": float(costs["false_negative"])}
    return settings.costs.model_dump() if settings.costs else None


def default_model_name(run_name: str | None, target: str) -> str:
    """Registered model name: ``<run name>-<target>`` in lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", f"{run_name or 'kit'}-{target}".lower()).strip("-")


class TrainingRun:
    """State of one training phase run; each method is one notebook step."""

    def __init__(self, ctx: Any) -> None:
        """Resolve what to train on: dataset, costs, pilot KPI, stakes and sign-off rule."""
        self.ctx, self.config = ctx, ctx.config
        self.settings, self.seed = ctx.config.training, ctx.config.seed
        use_cases = ctx.read("use_cases", required=False) or {}
        self.pilot: dict[str, Any] = use_cases.get("pilot") or {}
        self.spec = resolve_dataset(self.config, self.pilot)
        self.costs = resolve_costs(self.settings, self.pilot)
        self.kpi = tgates.pilot_kpi(self.pilot)
        self.stakes = self.settings.stakes or self.pilot.get("stakes")
        self.require_approval = tgates.approval_required(self.settings.require_approval, self.stakes)
        self.model_name = self.settings.model_name or default_model_name(self.config.name, self.spec.target)
        self.experiment = self.settings.experiment or f"kit/{self.config.name or 'run'}"
        self.notes: list[str] = []
        self.gates: dict[str, dict[str, Any]] = {}
        self.outcome: dict[str, Any] = {}

    # ---- 1. inputs and data ---------------------------------------------------------------
    def inputs(self) -> pd.DataFrame:
        """What this run trains on and how it decides, as a small table."""
        costs = f"FP {self.costs['false_positive']:g}, FN {self.costs['false_negative']:g}" if self.costs else "none (threshold maximizes F1)"
        kpi = f"{self.kpi['metric']} >= {self.kpi['threshold']:g}" if self.kpi else "none that is a model metric"
        facts = {
            "dataset": self.spec.name or self.spec.path.name,
            "source": "pilot use case" if self.pilot.get("dataset") else "config dataset",
            "target (positive class)": f"{self.spec.target} ({self.spec.positive_class if self.spec.positive_class is not None else 'inferred'})",
            "error costs": costs, "pilot KPI gate": kpi, "stakes": self.stakes or "not given",
            "human sign-off": "required" if self.require_approval else "not required",
            "registered model": self.model_name, "seed": self.seed,
        }
        return pd.DataFrame({"value": [str(v) for v in facts.values()]}, index=pd.Index(list(facts), name="setting"))

    def load(self) -> pd.DataFrame:
        """Load and type the data, encode the target; returns a per-dtype summary."""
        from kit.data import file_sha256

        with warnings.catch_warnings():  # the same notes are shown by the notebook and kept in the artifact
            warnings.simplefilter("ignore", tdata.DataWarning)
            self.frame = tdata.load_dataset(self.spec)
        self.notes += self.frame.attrs.get("kit_notes", [])
        if len(self.frame) < self.settings.min_rows:
            raise DataError(
                f"{self.spec.path.name}: {len(self.frame)} labelled rows, fewer than training.min_rows "
                f"({self.settings.min_rows}); add data or lower training.min_rows (not below 50)"
            )
        self.target = tdata.encode_target(self.frame[self.spec.target], self.spec.positive_class)
        self.y = self.target.y
        self.sha256 = file_sha256(self.spec.path)
        kinds = self.frame.dtypes.astype(str).value_counts()
        return pd.DataFrame({
            "rows": [len(self.frame)], "columns": [self.frame.shape[1]],
            "positive class": [str(self.target.positive_class)], "positive share": [round(float(self.y.mean()), 4)],
            "column types": [", ".join(f"{k}: {v}" for k, v in kinds.items())],
        })

    def check_quality(self) -> pd.DataFrame:
        """Quality report, and the leakage screen on the training rows; decides the feature list."""
        from kit.training.quality import quality_report

        if not hasattr(self, "split"):
            raise KitError("run.make_split() comes before run.check_quality(): the leakage screen looks only at training rows")
        candidates = tdata.feature_columns(self.frame, self.spec)
        self.quality = quality_report(self.frame, self.spec, candidates, self.y, self.settings.drop_leaky, self.seed,
                                      rows=self.split.parts["train"], leakage_auc=self.settings.leakage_auc)
        self.notes += self.quality.notes
        self.features = [c for c in candidates if c not in self.quality.excluded]
        if not self.features:
            raise DataError(f"{self.spec.path.name}: no usable feature columns left; check dataset.drop_columns and id_columns")
        return self.quality.table()

    def make_split(self) -> pd.DataFrame:
        """Draw and record the train/valid/test split (artifacts/split.json)."""
        s = self.settings
        self.split = tdata.make_split(self.frame, self.y, s.valid_size, s.test_size, self.seed, self.spec.time_column,
                                      self.spec.time_format, self.spec.rows_in_time_order)
        self.split_path = tdata.save_split(self.ctx.run_dir, self.split, self.spec)
        return self.split.summary(self.y)

    def part(self, name: str) -> tuple[pd.DataFrame, np.ndarray]:
        """(features, labels) of one split part."""
        idx = self.split.parts[name]
        return self.frame.iloc[idx][self.features], self.y[idx]

    # ---- 2. contract ----------------------------------------------------------------------
    def build_contract(self) -> pd.DataFrame:
        """Infer the contract on training rows, save it, and validate the test rows with it."""
        X_train, _ = self.part("train")
        self.contract = infer_contract(X_train, self.features, name=f"{self.model_name} features")
        self.contract_path = save_contract(self.contract, self.ctx.artifacts / "contract.json")
        self.contract_check = validate(self.contract, self.part("test")[0])
        return contract_summary(self.contract)

    # ---- 3. candidates --------------------------------------------------------------------
    def train(self) -> pd.DataFrame:
        """Fit baselines and models, choose thresholds on validation, rank on test."""
        (Xtr, ytr), (Xva, yva), (Xte, yte) = self.part("train"), self.part("valid"), self.part("test")
        meta = {"target": self.spec.target, "positive_class": self.target.positive_class,
                "negative_class": self.target.negative_class}
        self.candidates = train_candidates(Xtr, ytr, Xva, yva, self.settings, self.seed, costs=self.costs, **meta)
        self.training_notes = [n for c in self.candidates for n in c.notes]
        self.notes += self.training_notes
        set_thresholds(self.candidates, yva, self.costs, self.settings.threshold)
        self.leaderboard = evaluate(self.candidates, Xte, yte, self.settings.selection_metric, yva)
        self.best = select_best(self.candidates, yva, self.settings.selection_metric)
        self.metrics = candidate_metrics(self.best, yte, self.settings.bootstrap, self.seed, self.settings.confidence)
        return self.leaderboard

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

        if not self.costs:
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

    def _champion_auc(self) -> tuple[float | None, str | None]:
        """Current champion's test AUC on this run's test rows, and its version."""
        if not self.settings.track:
            return None, None
        from kit.training.metrics import compute_metrics
        from kit.training.scoring import ScoringModel

        reg = self._registry()
        version = reg.champion_version(self.model_name)
        if version is None:
            return None, None
        try:
            model = ScoringModel.load(reg.download_model(self.model_name, version))
            X_test, y_test = self.frame.iloc[self.split.parts["test"]], self.part("test")[1]
            return compute_metrics(y_test, model.predict_proba(X_test))["roc_auc"], version
        except DataError:
            return None, version

    def check_gates(self) -> pd.DataFrame:
        """Evaluate every promotion gate for the selected candidate."""
        s = self.settings
        row = self.leaderboard.set_index("candidate")
        base = row[row["kind"] == "baseline"]["roc_auc"]
        model_auc = float(row.loc[self.best.name, "roc_auc"])
        champion_auc, champion_version = self._champion_auc()
        self.champion_before = champion_version
        approval = ({"by": s.approval.approved_by, "why": s.approval.reason, "at": "this run (config)"}
                    if s.approval else None)
        gates = {
            "data contract": tgates.contract_gate(
                self.contract_check.passed, self.contract_check.to_dict()["failures"], self.contract_check.rows, s.contract_tolerance),
            "beats baseline": tgates.baseline_gate(model_auc, float(base.max()), str(base.idxmax()), s.baseline_margin),
            "no regression": tgates.regression_gate(model_auc, champion_auc, champion_version, s.regression_tolerance),
        }
        kpi = tgates.kpi_gate(self.kpi, self.metrics["value"].to_dict())
        if kpi is not None:
            gates["pilot KPI"] = kpi
        gates["human sign-off"] = tgates.approval_gate(self.require_approval, approval)
        self.gates = gates
        return tgates.gate_table(gates)

    def register(self) -> dict[str, Any]:
        """Save the model, log every candidate to MLflow, register the selected one, promote if all gates pass."""
        model_dir = self.best.model.save(self.ctx.run_dir / MODEL_DIR)
        failed = tgates.failed(self.gates)
        self.outcome = {"model_name": self.model_name, "algorithm": self.best.name, "version": None,
                        "status": "candidate", "failed_gates": failed, "run_ids": {}}
        if not self.settings.track:
            self.outcome["failed_gates"] = failed + ["registration off (training.track: false)"]
            return self.outcome
        reg = self._registry()
        tags = {"dataset_sha256": self.sha256, "data_hash": self.split.data_hash, "split_index_hash": self.split.index_hash,
                "model_name": self.model_name, "run_dir": str(self.ctx.run_dir), "seed": str(self.seed)}
        board = self.leaderboard.set_index("candidate")
        for cand in self.candidates:  # four candidates: one MLflow run each
            metrics = {f"test_{k}": board.loc[cand.name, k] for k in ("roc_auc", "pr_auc", "log_loss", "brier", "f1", "recall", "precision", "accuracy")}
            metrics[f"valid_{self.settings.selection_metric}"] = board.loc[cand.name, f"valid_{self.settings.selection_metric}"]
            selected = cand is self.best
            if selected:
                metrics |= {f"test_{m}_low": v for m, v in self.metrics["low"].items()} | {f"test_{m}_high": v for m, v in self.metrics["high"].items()}
            run_id = reg.log_candidate(
                self.experiment, cand.name, {**cand.params, "threshold": cand.threshold, "trees": cand.trees},
                metrics, {**tags, "kind": cand.kind, "selected": str(selected)},
                model_dir=model_dir if selected else None, files=[self.contract_path, self.split_path] if selected else None,
            )
            self.outcome["run_ids"][cand.name] = run_id
        gate_tags = {f"gate.{k}": "passed" if g["passed"] else "failed" for k, g in self.gates.items()}
        version = reg.register(self.model_name, self.outcome["run_ids"][self.best.name], gate_tags)
        self.outcome["version"] = version
        if self.settings.approval:
            reg.record_approval(self.model_name, version, self.settings.approval.approved_by, self.settings.approval.reason)
        if not failed:
            reg.set_champion(self.model_name, version, f"all gates passed in run {self.ctx.run_dir.name}")
            self.outcome["status"] = "champion"
        return self.outcome

    # ---- 5. artifact ----------------------------------------------------------------------
    def artifact(self) -> dict[str, Any]:
        """The ``training`` artifact: dataset, contract, quality, split, leaderboard, champion, gates, headline."""
        metrics = self.metrics.reset_index(names="metric")
        auc = self.metrics.loc["roc_auc"]
        champion = {
            "model_name": self.model_name, "version": self.outcome.get("version"), "algorithm": self.best.name,
            "status": self.outcome.get("status", "candidate"), "threshold": self.best.threshold,
            "threshold_objective": "lowest error cost" if self.costs else "highest F1",
            "features": self.features, "categories": self.best.model.categories,
            "metrics": {r.metric: {"value": r.value, "low": r.low, "high": r.high} for r in metrics.itertuples()},
            "confusion_matrix": {k: int(self.leaderboard.set_index("candidate").loc[self.best.name, k]) for k in ("tp", "fp", "fn", "tn")},
            "model_dir": str(MODEL_DIR), "tracking_uri": self._registry().uri if self.settings.track else None,
            "previous_champion": getattr(self, "champion_before", None), "failed_gates": self.outcome.get("failed_gates", []),
        }
        passed = sum(g["passed"] for g in self.gates.values())
        status = "ok" if champion["status"] == "champion" else "warn"
        if not self.gates.get("data contract", {"passed": True})["passed"]:
            status = "fail"
        return {
            "dataset": {"name": self.spec.name, "path": str(self.spec.path), "sha256": self.sha256, "rows": len(self.frame),
                        "target": self.spec.target, "positive_class": self.target.positive_class,
                        "negative_class": self.target.negative_class, "spec": self.spec.model_dump(mode="json")},
            "contract": {"path": str(self.contract_path.relative_to(self.ctx.run_dir)), "columns": len(self.features),
                         "summary": contract_summary(self.contract).to_dict(orient="records"),
                         "test_check": self.contract_check.to_dict()},
            "quality": self.quality.to_dict(),
            "warnings": self.notes,
            "split": {k: v for k, v in tdata.split_record(self.split, self.spec).items() if k != "positions"}
                     | {"path": str(self.split_path.relative_to(self.ctx.run_dir))},
            "costs": self.costs, "pilot_kpi": self.kpi, "stakes": self.stakes,
            "leaderboard": self.leaderboard.drop(columns=["tp", "fp", "fn", "tn"]).to_dict(orient="records"),
            "champion": champion,
            "gates": self.gates,
            "registry": {"experiment": self.experiment, "run_ids": self.outcome.get("run_ids", {})},
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "headline": {
                "Model": f"{self.best.name} v{champion['version'] or '-'} ({champion['status']})",
                "Test AUC": f"{auc['value']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}]",
                "Gates": f"{passed}/{len(self.gates)} passed" + (f"; failed: {', '.join(tgates.failed(self.gates))}" if passed < len(self.gates) else ""),
            },
            "headline_status": status,
        }


def give_signoff(ctx: Any, who: str, why: str) -> dict[str, Any]:
    """Record a human sign-off on this run's registered version and promote it if no other gate failed."""
    from kit.artifacts import write_artifact
    from kit.training.registry import Registry

    art = ctx.read("training")
    champ = art["champion"]
    if not champ.get("version"):
        raise DataError("training artifact: no registered version to approve; run the phase with training.track: true")
    reg = Registry(champ.get("tracking_uri"))
    approval = reg.record_approval(champ["model_name"], champ["version"], who, why)
    art["gates"]["human sign-off"] = {"passed": True, "reason": f"approved by {who}: {why}"}
    if tgates.all_passed(art["gates"]):
        reg.set_champion(champ["model_name"], champ["version"], f"signed off by {who}")
        champ["status"], champ["failed_gates"] = "champion", []
        art["headline_status"] = "ok"
    passed = sum(g["passed"] for g in art["gates"].values())
    art["headline"]["Model"] = f"{champ['algorithm']} v{champ['version']} ({champ['status']})"
    art["headline"]["Gates"] = f"{passed}/{len(art['gates'])} passed"
    write_artifact(ctx.run_dir, "training", art)
    return {"version": champ["version"], "status": champ["status"], **approval}
