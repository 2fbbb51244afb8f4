"""MLflow registry: champion alias, version tags, approval and rollback on a private store."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kit.training.registry import Registry, RegistryError, resolve_tracking_uri
from kit.training.scoring import ScoringModel


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    import xgboost as xgb

    X = pd.DataFrame({"a": np.arange(60.0)})
    booster = xgb.train({"objective": "binary:logistic", "nthread": 1}, xgb.DMatrix(X, (X["a"] > 30).astype(int)), 3)
    return ScoringModel("xgboost", booster, ["a"], {}).save(tmp_path / "model")


def test_tracking_uri_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIT_TRACKING_URI", "sqlite:////tmp/x.db")
    assert resolve_tracking_uri("http://mlflow:5000") == "http://mlflow:5000"
    assert resolve_tracking_uri(None) == "sqlite:////tmp/x.db"
    monkeypatch.delenv("KIT_TRACKING_URI")
    assert resolve_tracking_uri(None).endswith("/.mlflow/mlflow.db")


def test_champion_approval_and_rollback(mlflow_tracking_uri: str, model_dir: Path) -> None:
    reg = Registry()  # picks the private store from KIT_TRACKING_URI
    assert reg.uri == mlflow_tracking_uri
    assert reg.current_champion("churn") is None
    versions = []
    for auc in (0.80, 0.82, 0.81):
        run_id = reg.log_candidate("kit/test", "xgboost", {"depth": 3}, {"test_roc_auc": auc}, {"kind": "model"}, model_dir)
        versions.append(reg.register("churn", run_id, {"gate.beats baseline": "passed"}))
    assert versions == ["1", "2", "3"]
    assert reg.version_tags("churn", "3")["status"] == "candidate"
    reg.set_champion("churn", "1", "first")
    reg.set_champion("churn", "2", "better")
    assert reg.current_champion("churn") == ("2", {"test_roc_auc": 0.82})
    assert reg.version_tags("churn", "1")["status"] == "retired"
    assert reg.rollback("churn") == "1"
    assert reg.champion_version("churn") == "1"
    assert reg.version_tags("churn", "2")["status"] == "rolled_back"
    approval = reg.record_approval("churn", "3", "Ann Lee, risk", "reviewed")
    assert reg.approval("churn", "3") == {"by": "Ann Lee, risk", "at": approval["approval.at"], "why": "reviewed"}
    assert reg.approval("churn", "2") is None
    with pytest.raises(RegistryError, match="who approves and why"):
        reg.record_approval("churn", "3", " ", "x")
    loaded = ScoringModel.load(reg.download_model("churn", "1", Path(mlflow_tracking_uri[10:]).parent / "dl"))
    assert loaded.predict_proba(pd.DataFrame({"a": [0.0, 50.0]})).tolist() == ScoringModel.load(model_dir).predict_proba(pd.DataFrame({"a": [0.0, 50.0]})).tolist()


def test_rollback_without_history(mlflow_tracking_uri: str, model_dir: Path) -> None:
    reg = Registry(mlflow_tracking_uri)
    run_id = reg.log_candidate("kit/test", "xgboost", {}, {"test_roc_auc": 0.7}, None, model_dir)
    version = reg.register("solo", run_id)
    reg.set_champion("solo", version, "only one")
    with pytest.raises(RegistryError, match="no earlier champion"):
        reg.rollback("solo")
