"""The ML Test Score scored from real run folders: known scores, evidence that moves the score, manual
answers, min over sections, the feed into readiness and the re-check against an earlier run."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.config import load_config
from kit.errors import ConfigError
from kit.ml_test_score import Evidence, band, collect_evidence, rubric, score, score_run
from kit.readiness.assess import assess, to_artifact

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "configs" / "demo.yaml"

# The demo run, scored from its own artifacts (no practices answered, no earlier run).
DEMO_STATUS = {
    "data-1": "automated", "data-2": "automated", "data-3": "missing", "data-4": "automated",
    "data-5": "missing", "data-6": "missing", "data-7": "missing",
    "model-1": "missing", "model-2": "missing", "model-3": "missing", "model-4": "automated",
    "model-5": "automated", "model-6": "automated", "model-7": "automated",
    "infrastructure-1": "missing", "infrastructure-2": "missing", "infrastructure-3": "automated",
    "infrastructure-4": "automated", "infrastructure-5": "automated", "infrastructure-6": "missing",
    "infrastructure-7": "missing",
    "monitoring-1": "missing", "monitoring-2": "automated", "monitoring-3": "missing",
    "monitoring-4": "automated", "monitoring-5": "automated", "monitoring-6": "automated",
    "monitoring-7": "automated",
}
DEMO_SECTIONS = {"data": 3.0, "model": 4.0, "infrastructure": 3.0, "monitoring": 5.0}


def demo_config(folder: Path, readiness: dict | None = None) -> Path:
    """The demo config with absolute data paths (so it can live in ``folder``), plus readiness keys."""
    config = yaml.safe_load(DEMO.read_text())
    config["dataset"]["path"] = str(ROOT / "data" / "telco_churn" / "Telco-Customer-Churn.csv")
    config["use_cases"]["portfolio_path"] = str(ROOT / "data" / "use_cases" / "portfolio.csv")
    config["readiness"].update(readiness or {})
    path = folder / "demo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def kit_run(config: Path, out: Path, tracking: Path, *extra: str) -> subprocess.CompletedProcess:
    """``python -m kit run`` as a user runs it, with its own MLflow store."""
    env = {**os.environ, "KIT_TRACKING_URI": f"sqlite:///{tracking}"}
    proc = subprocess.run([sys.executable, "-m", "kit", "run", str(config), "--out", str(out), *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A full demo run, then a second run (phases 0-2) of the same config pointing at it as earlier_run."""
    tmp = tmp_path_factory.mktemp("mltest")
    (tmp / "first").mkdir()
    (tmp / "second").mkdir()
    first = tmp / "reports" / "demo"
    kit_run(demo_config(tmp / "first"), first, tmp / "mlflow.db")
    second_config = demo_config(tmp / "second", {"earlier_run": str(first)})
    second = tmp / "reports" / "again"
    kit_run(second_config, second, tmp / "mlflow.db", "--phases", "readiness,use_cases,training")
    return {"first": first, "first_config": tmp / "first" / "demo.yaml", "second": second,
            "second_config": second_config}


def read(path: Path) -> dict:
    """A JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def statuses(doc: dict) -> dict[str, str]:
    """{test id: status}."""
    return {t["id"]: t["status"] for t in doc["tests"]}


def points(doc: dict) -> dict[str, float]:
    """{section: points}."""
    return {k: v["points"] for k, v in doc["sections"].items()}


def test_rubric_has_28_tests_in_four_sections_of_seven() -> None:
    tests = rubric()["tests"]
    assert len(tests) == 28 and len({t["id"] for t in tests}) == 28
    by_section = {s["id"]: sum(t["section"] == s["id"] for t in tests) for s in rubric()["sections"]}
    assert by_section == {"data": 7, "model": 7, "infrastructure": 7, "monitoring": 7}
    from kit.ml_test_score import CHECKS
    from kit.readiness import content

    practices = set(content.practices().index)
    for test in tests:  # every test says how the kit decides it, with a real check or a real question
        assert test.get("check") or test.get("manual"), test["id"]
        assert not test.get("check") or test["check"] in CHECKS, test["id"]
        assert not test.get("manual") or test["manual"] in practices, test["id"]
    assert {content.practices().loc[p, "test"] for p in practices} == {t["id"] for t in tests if t.get("manual")}


def test_the_chain_writes_the_known_score_of_the_demo_run(runs) -> None:
    doc = read(runs["first"] / "ml_test_score.json")
    assert doc["format"] == 1 and doc["rubric"].startswith("Breck et al. 2017")
    assert statuses(doc) == DEMO_STATUS
    assert points(doc) == DEMO_SECTIONS
    assert all(s["max"] == 7 for s in doc["sections"].values())
    assert doc["final"] == 3.0 and doc["weakest"] == ["data", "infrastructure"]
    for test in doc["tests"]:
        assert test["points"] == {"automated": 1.0, "manual": 0.5, "missing": 0.0}[test["status"]]
        assert test["why"], test["id"]
        if test["status"] == "automated":  # evidence is a relative path to a file of the run
            assert (runs["first"] / test["evidence"]).is_file(), test
        else:
            assert test["evidence"] is None
    by_id = {t["id"]: t for t in doc["tests"]}
    training = read(runs["first"] / "artifacts" / "training.json")
    assert by_id["model-5"]["why"] == training["gates"]["beats baseline"]["reason"]
    assert by_id["model-7"]["outcome"] == "failed" and "SeniorCitizen" in by_id["model-7"]["why"]
    assert "readiness.earlier_run" in by_id["infrastructure-1"]["why"]
    index = (runs["first"] / "index.html").read_text()
    assert "ML Test Score 3 " in index and 'href="artifacts/contract.json"' in index


def test_removing_the_data_contract_drops_the_data_section_and_the_final_score(runs, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(runs["first"], copy, ignore=shutil.ignore_patterns("*.html", "*.ipynb", "logs"))
    config = load_config(runs["first_config"])
    manifest = read(copy / "manifest.json")
    before = score_run(copy, manifest, config)
    (copy / "artifacts" / "contract.json").unlink()
    after = score_run(copy, manifest, config)
    assert statuses(after)["data-1"] == "missing" and "artifacts/contract.json" in after["tests"][0]["why"]
    assert points(after)["data"] == points(before)["data"] - 1 == 2.0
    assert after["final"] == 2.0 and after["weakest"] == ["data"]
    assert {k: v for k, v in points(after).items() if k != "data"} == {k: v for k, v in points(before).items() if k != "data"}


def test_a_missing_phase_turns_its_tests_missing(runs, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(runs["first"], copy, ignore=shutil.ignore_patterns("*.html", "*.ipynb", "logs"))
    (copy / "artifacts" / "monitoring.json").unlink()
    doc = score_run(copy, read(copy / "manifest.json"), load_config(runs["first_config"]))
    monitoring = [t for t in doc["tests"] if t["section"] == "monitoring"]
    assert all(t["status"] == "missing" for t in monitoring)
    assert "no monitoring artifact" in monitoring[1]["why"]
    assert doc["final"] == 0.0 and band(doc["final"])["process_cap"] == 1.5
    assert statuses(doc)["model-4"] == "missing"  # the staleness replay lives in monitoring too


def test_manual_answers_give_half_a_point_and_the_final_is_the_lowest_section(runs, tmp_path: Path) -> None:
    from kit.readiness import content

    answers = {p: True for p in content.practices().index}
    config = load_config(demo_config(tmp_path, {"practices": answers}))
    doc = score_run(runs["first"], read(runs["first"] / "manifest.json"), config)
    manual = {t["id"] for t in doc["tests"] if t["status"] == "manual"}
    assert manual == {i for i, s in DEMO_STATUS.items() if s == "missing"} - {"infrastructure-1", "monitoring-1"}
    assert all(t["points"] == 0.5 and "readiness.practices." in t["why"] for t in doc["tests"] if t["id"] in manual)
    # data 3 + 4 x 0.5, model 4 + 3 x 0.5, infrastructure 3 + 3 x 0.5, monitoring 5 + 1 x 0.5
    assert points(doc) == {"data": 5.0, "model": 5.5, "infrastructure": 4.5, "monitoring": 5.5}
    assert doc["final"] == 4.5 == min(points(doc).values()) and doc["weakest"] == ["infrastructure"]
    one_false = load_config(demo_config(tmp_path, {"practices": {**answers, "canary_releases": False}}))
    lower = score_run(runs["first"], read(runs["first"] / "manifest.json"), one_false)
    assert points(lower)["infrastructure"] == 4.0 and lower["final"] == 4.0
    assert "readiness.practices.canary_releases is false" in next(
        t["why"] for t in lower["tests"] if t["id"] == "infrastructure-6")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drop=st.sets(st.sampled_from(["readiness", "training", "explain", "monitoring"])),
       answers=st.dictionaries(st.sampled_from(["privacy_controls", "canary_releases", "hyperparameters_tuned",
                                                "model_code_reviewed", "training_serving_skew_checked"]),
                               st.booleans()))
def test_less_evidence_never_scores_higher_and_final_is_the_min(runs, drop, answers) -> None:
    full = collect_evidence(runs["first"], read(runs["first"] / "manifest.json"), load_config(runs["first_config"]))
    fewer = Evidence(artifacts={k: (None if k in drop else v) for k, v in full.artifacts.items()},
                     manifest=full.manifest, files=full.files, practices=answers)
    base = Evidence(artifacts=full.artifacts, manifest=full.manifest, files=full.files, practices=answers)
    a, b = score(base), score(fewer)
    for doc in (a, b):
        assert doc["final"] == min(points(doc).values())
        assert all(s["points"] == sum(t["points"] for t in doc["tests"] if t["section"] == k)
                   for k, s in doc["sections"].items())
    assert all(points(b)[k] <= points(a)[k] for k in points(a))


def test_an_earlier_run_rechecks_reproducibility_and_dependencies(runs) -> None:
    doc = read(runs["second"] / "ml_test_score.json")
    by_id = {t["id"]: t for t in doc["tests"]}
    repro = by_id["infrastructure-1"]
    assert repro["status"] == "automated" and repro["outcome"] == "passed", repro
    assert "all 9 test metrics of the model are identical" in repro["why"]
    assert by_id["monitoring-1"]["status"] == "automated"
    assert by_id["monitoring-1"]["why"].startswith("none of ")  # the same environment ran both
    assert by_id["infrastructure-3"]["status"] == "missing" and "monitoring not selected" in by_id["infrastructure-3"]["why"]
    first, second = read(runs["first"] / "artifacts" / "training.json"), read(runs["second"] / "artifacts" / "training.json")
    assert first["champion"]["metrics"] == second["champion"]["metrics"]


def test_other_metrics_or_other_data_in_the_earlier_run_are_named(runs, tmp_path: Path) -> None:
    earlier = tmp_path / "earlier"
    shutil.copytree(runs["first"], earlier, ignore=shutil.ignore_patterns("*.html", "*.ipynb", "logs"))
    training = read(earlier / "artifacts" / "training.json")
    training["champion"]["metrics"]["roc_auc"]["value"] -= 0.01
    (earlier / "artifacts" / "training.json").write_text(json.dumps(training))
    config = load_config(demo_config(tmp_path, {"earlier_run": str(earlier)}))
    doc = score_run(runs["second"], read(runs["second"] / "manifest.json"), config)
    repro = next(t for t in doc["tests"] if t["id"] == "infrastructure-1")
    assert repro["status"] == "automated" and repro["outcome"] == "failed"
    assert "other test metrics: roc_auc" in repro["why"]

    training["dataset"]["sha256"] = "0" * 64
    (earlier / "artifacts" / "training.json").write_text(json.dumps(training))
    doc = score_run(runs["second"], read(runs["second"] / "manifest.json"), config)
    repro = next(t for t in doc["tests"] if t["id"] == "infrastructure-1")
    assert repro["status"] == "missing" and "not comparable (other data sha256)" in repro["why"]


def test_phase_0_uses_the_earlier_runs_score(runs) -> None:
    readiness = read(runs["second"] / "artifacts" / "readiness.json")
    summary = readiness["ml_test_score"]
    assert summary["source"] == str(runs["first"]) and summary["final"] == 3.0 and summary["process_cap"] == 4.0
    assert readiness["pillars"]["process"] == 2.4 and readiness["maturity_level"] == 2  # cap 4 > 2.4: unchanged
    assert readiness["headline"]["ML Test Score (earlier run)"] == "3: process pillar capped at 4"
    first = read(runs["first"] / "artifacts" / "readiness.json")
    assert first["ml_test_score"] is None and first["pillars"] == readiness["pillars"]


def test_a_low_score_caps_the_process_pillar_and_the_level() -> None:
    section = load_config(DEMO).readiness
    plain = assess(section)
    assert plain.pillars["process"] == 2.4 and plain.level == 2
    one = {"final": 1.0, "sections": {}}
    capped = assess(section, score=one)
    assert capped.pillars["process"] == 2.0 and capped.level == 2  # level 2 needs every pillar >= 2
    assert capped.scores.loc["process", "capped"] and not capped.scores.loc["process", "blocker"]
    zero = assess(section, score={"final": 0.0, "sections": {}})
    assert zero.pillars["process"] == 1.5 and zero.level == 1
    assert [b["pillar"] for b in zero.blockers] == ["process"]
    assert to_artifact(zero)["ml_test_score"]["process_cap"] == 1.5


def test_the_readiness_gap_names_claims_the_run_does_not_show(runs) -> None:
    doc = read(runs["first"] / "ml_test_score.json")
    gaps = {g.get("item") or g.get("pillar"): g for g in doc["readiness_gap"]}
    # the demo declares rollback and a model registry, but its first run has no earlier champion to roll back to
    assert gaps["readiness.red_flags.no_rollback"]["note"].startswith("claimed, but")
    assert gaps["readiness.capabilities.model_registry"]["evidence"] == "infrastructure-4, infrastructure-7: automated, missing"
    assert gaps["readiness.answers.process_versioning"]["declared"] == "3"
    # ...and does drift monitoring in the run while saying it has none
    assert gaps["readiness.capabilities.drift_monitoring"]["note"].startswith("shown by this run, not claimed")
    assert gaps["declared_level"]["declared"] == 3 and gaps["declared_level"]["evidence"] == 2
    assert doc["readiness"]["process"] == {"declared": 2.4, "cap": 4.0, "with_evidence": 2.4}
    assert "readiness.capabilities.experiment_tracking" not in gaps  # no rule compares it


def test_bad_readiness_keys_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"practices\.canary_release: unknown practice id; did you mean 'canary_releases'"):
        load_config(demo_config(tmp_path, {"practices": {"canary_release": True}}))
    (tmp_path / "notareport").mkdir()
    (tmp_path / "notareport" / "x.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"earlier_run: .*notareport is not a kit report folder"):
        load_config(demo_config(tmp_path, {"earlier_run": str(tmp_path / "notareport")}))
    first_run = load_config(demo_config(tmp_path, {"earlier_run": str(tmp_path / "not-yet")}))  # a first run
    from kit.ml_test_score import earlier_score, read_earlier

    assert earlier_score(first_run) is None
    assert "holds no kit report yet" in read_earlier(first_run.readiness.earlier_run)["problem"]


def test_empty_or_partial_artifacts_score_missing_with_reasons_not_errors() -> None:
    for artifacts in ({name: None for name in ("readiness", "training", "explain", "monitoring")},
                      {name: {} for name in ("readiness", "training", "explain", "monitoring")}):
        doc = score(Evidence(artifacts=artifacts, manifest={"phases": []}))
        assert set(statuses(doc).values()) == {"missing"} and doc["final"] == 0.0
        assert all(t["why"] for t in doc["tests"])
    none = score(Evidence(artifacts={}))
    assert "no training artifact: the training phase did not run" in none["tests"][0]["why"]


def test_the_contract_test_reports_the_gate_within_tolerance() -> None:
    training = {"contract": {"columns": 20, "test_check": {"passed": False}},
                "gates": {"data contract": {"passed": True, "reason": "test rows satisfy the contract within "
                                                                      "tolerance 0.01 (credit_amount: out of range (1))"}}}
    doc = score(Evidence(artifacts={"training": training}, files=frozenset({"artifacts/contract.json"})))
    data1 = doc["tests"][0]
    assert data1["status"] == "automated" and data1["outcome"] == "passed"
    assert data1["why"].endswith("within tolerance 0.01 (credit_amount: out of range (1))")


def test_feature_rules_catch_an_id_or_post_outcome_column_among_the_features() -> None:
    spec = {"id_columns": ["customerID"], "post_outcome_columns": ["call_duration"], "sensitive": ["gender"],
            "sensitive_as_input": "allow"}
    training = {"dataset": {"spec": spec}, "quality": {"id_like_columns": ["row_no"]},
                "champion": {"features": ["tenure", "gender", "call_duration"]}}
    data4 = score(Evidence(artifacts={"training": training}))["tests"][3]
    assert data4["id"] == "data-4" and data4["status"] == "automated" and data4["outcome"] == "failed"
    assert data4["why"] == "banned columns used as features: call_duration"
    training["champion"]["features"] = ["tenure", "gender", "row_no"]
    assert score(Evidence(artifacts={"training": training}))["tests"][3]["why"].endswith(": row_no")
    spec["sensitive_as_input"] = "exclude"
    training["champion"]["features"] = ["tenure", "gender"]
    assert score(Evidence(artifacts={"training": training}))["tests"][3]["why"].endswith(": gender")
    training["champion"]["features"] = ["tenure"]
    ok = score(Evidence(artifacts={"training": training}))["tests"][3]
    assert ok["outcome"] == "passed" and "4 in this data" in ok["why"]


def test_the_readiness_form_asks_the_practices_and_saves_them(tmp_path: Path) -> None:
    from kit.readiness.widgets import ReadinessForm

    form = ReadinessForm(load_config(DEMO).readiness, save_to=tmp_path / "answers.yaml", draw=False)
    assert "Practices" in form.tabs.titles and len(form.practice_inputs) == 11
    form.practice_inputs["canary_releases"].value = True
    saved = yaml.safe_load(form.save().read_text())["readiness"]
    assert saved["practices"] == {"canary_releases": True}  # unticked practices stay unanswered
    assert load_config(demo_config(tmp_path, saved)).readiness.practices == {"canary_releases": True}


def test_the_chain_step_scores_any_run_folder_and_a_fault_never_fails_the_run(tmp_path: Path, monkeypatch) -> None:
    import kit.ml_test_score as mts
    from kit.chain import _score
    from kit.manifest import new_manifest

    config = load_config(DEMO)
    manifest = new_manifest(config, ["readiness"], "2026-12-01T00:00:00+00:00", {})
    said: list[str] = []
    _score(tmp_path, manifest, config, said.append)  # a run whose phase wrote nothing: everything missing
    doc = read(tmp_path / "ml_test_score.json")
    assert doc["final"] == 0.0 and said == []
    assert next(t for t in doc["tests"] if t["id"] == "infrastructure-3")["why"].startswith(
        "the pipeline did not run end to end in this run: readiness pending")

    def broken(*args: object) -> None:
        raise RuntimeError("rubric unreadable")

    monkeypatch.setattr(mts, "write_score", broken)
    _score(tmp_path / "other", manifest, config, said.append)
    assert said == ["ML Test Score not written: RuntimeError: rubric unreadable"]


def test_a_capping_score_recommends_the_missing_tests_of_the_weakest_section(runs) -> None:
    section = load_config(DEMO).readiness
    doc = {**read(runs["first"] / "ml_test_score.json"), "final": 1.0, "source": "earlier"}
    result = assess(section, score=doc)
    rec = next(r for r in result.recommendations if r["kind"] == "ml test score")
    assert rec["title"] == "ML Test Score 1 caps process maturity at 2"
    assert "weakest section(s), data, infrastructure" in rec["detail"]
    assert rec["actions"][0] == "data-3: No feature costs more than it brings"
    assert len(rec["actions"]) == 8  # 4 missing data tests + 4 missing infrastructure tests
    high = assess(section, score={**doc, "final": 3.0})  # cap 4 is above the answers' 2.4: nothing to fix here
    assert not [r for r in high.recommendations if r["kind"] == "ml test score"]


@pytest.mark.parametrize(("task", "scores", "alert", "stable"), [
    ("regression", {"missing_share": 0.0, "mean_prediction": 4210.5}, "mae_rise", True),
    ("multiclass", {"missing_share": 0.0, "psi": 0.01}, "macro_f1_drop", True),  # classes: no mean to check
    ("binary", {"missing_share": 0.0, "mean_score": None}, "auc_drop", False),   # NaN written as null
    ("binary", {"missing_share": 0.02, "mean_score": 0.3}, "recall_floor", False),
])
def test_stability_and_quality_alerts_are_read_for_every_task(task: str, scores: dict, alert: str, stable: bool) -> None:
    """monitoring-5 reads each task's prediction summary; monitoring-7 counts each task's quality rules."""
    monitoring = {"batches": [{"batch": "b1"}, {"batch": "b2"}],
                  "prediction_drift": [{"batch": "b1", **scores}, {"batch": "b2", "missing_share": 0.0}],
                  "performance": {"measured": [{"batch": "b1"}], "thresholds": {"x": 1.0}},
                  "alerts": [{"batch": "b1", "rule": alert}, {"batch": "b1", "rule": "psi_top_k"}]}
    tests = {t["id"]: t for t in score(Evidence(artifacts={"monitoring": monitoring}))["tests"]}
    assert tests["monitoring-5"]["outcome"] == ("passed" if stable else "failed"), tests["monitoring-5"]["why"]
    assert tests["monitoring-5"]["why"].endswith("all finite" if stable else "scores in b1")
    assert tests["monitoring-7"]["outcome"] == "failed" and tests["monitoring-7"]["why"].endswith("; 1 performance alert(s)")


@pytest.mark.parametrize(("monitoring", "outcome", "says"), [
    ({"synthetic": False, "batches": [{"scored": True}, {"scored": False}]}, "passed", "ran end to end in this run"),
    ({"synthetic": True, "batches": [{"scored": True}]}, "passed", "synthetic workshop scenario"),
    ({"synthetic": False, "batches": [{"scored": False}, {"scored": False}]}, "failed",
     "none of the 2 production batches could be scored"),
])
def test_end_to_end_needs_a_scored_batch_and_says_when_monitoring_was_synthetic(monitoring, outcome, says) -> None:
    """A production file whose inputs broke every batch: all phases 'ok', yet nothing reached the model."""
    from kit.phases import PHASE_NAMES

    manifest = {"phases": [{"name": n, "status": "ok"} for n in PHASE_NAMES]}
    test = next(t for t in score(Evidence(artifacts={"monitoring": monitoring}, manifest=manifest))["tests"]
                if t["id"] == "infrastructure-3")
    assert test["outcome"] == outcome and says in test["why"] and "real data" not in test["why"]
