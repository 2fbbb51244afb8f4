"""A sign-off re-checks the ML Test Score tests that read the promotion decision, and the run's index shows it.

A real run on the bundled German credit data (phases 2 and 3 as their notebooks run them, then the chain's
own scoring and index), high stakes so the model waits for a sign-off; the score before and after is
checked against known figures and against a full re-score of the signed-off folder.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_promotion import credit_config, phase2, phase3

from kit import promotion
from kit.artifacts import to_jsonable, write_json
from kit.config import load_config
from kit.errors import ArtifactError
from kit.manifest import new_manifest
from kit.ml_test_score import CHECKS, PROMOTION_CHECKS, folder_evidence, recheck, score_run, write_score
from kit.report import write_index
from kit.training.registry import Registry

AWAITING_WHY = "7 gates decided the promotion: awaiting sign-off (failed: human sign-off)"
CHAMPION_WHY = "7 gates decided the promotion: champion (all passed)"


def chained_run(tmp_path: Path, **options: object) -> tuple[Path, Path, dict]:
    """Phases 2 and 3 of a credit run, then its manifest, ml_test_score.json and index.html as the chain writes them."""
    config, run_dir = credit_config(tmp_path, **options), tmp_path / "run"
    phase2(config, run_dir)
    phase3(config, run_dir)
    manifest = new_manifest(load_config(config), ["training", "explainability"], "2026-12-03T10:00:00+00:00", {})
    for record in manifest.phases:
        record.status = "ok"
    manifest.status = "ok"
    data = to_jsonable(manifest)
    write_json(run_dir / "manifest.json", data)
    write_score(run_dir, data, load_config(config))
    write_index(run_dir, data)
    return config, run_dir, data


def read(path: Path) -> dict:
    """A JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def entry(doc: dict, test_id: str) -> dict:
    """One test's entry of a score document."""
    return next(t for t in doc["tests"] if t["id"] == test_id)


@pytest.fixture
def store(mlflow_tracking_uri: str) -> Registry:
    """The test's private registry (KIT_TRACKING_URI points at it)."""
    return Registry(mlflow_tracking_uri)


def test_signoff_rechecks_the_promotion_test_and_the_index_shows_it(tmp_path: Path, store: Registry) -> None:
    # high stakes, a low tier and no sensitive columns: every gate passes but the sign-off
    config, run_dir, manifest = chained_run(tmp_path, sensitive=[], explain={"tier": "low"})
    before = read(run_dir / "ml_test_score.json")
    assert len(read(run_dir / "artifacts" / "explain.json")["promotion"]["gates"]) == 7
    gates = entry(before, "infrastructure-4")
    assert (gates["status"], gates["outcome"], gates["why"]) == ("automated", "failed", AWAITING_WHY)
    assert before["final"] == 0.0 and before["weakest"] == ["monitoring"]  # phase 4 did not run
    known = {"data": 3.0, "model": 1.0, "infrastructure": 2.0, "monitoring": 0.0}
    assert {k: s["points"] for k, s in before["sections"].items()} == known
    assert AWAITING_WHY in (run_dir / "index.html").read_text()
    evidence_before = folder_evidence(run_dir, manifest)

    # a score that cannot be re-checked stops the sign-off before anything is recorded
    good = (run_dir / "ml_test_score.json").read_text()
    (run_dir / "ml_test_score.json").write_text('{"final": 3, "tests": "cut off')
    with pytest.raises(ArtifactError, match="ml_test_score.json: unreadable or not an ML Test Score; re-run the chain"):
        promotion.give_signoff(run_dir, "Ann Lee, credit risk", "read the report")
    model = read(run_dir / "artifacts" / "training.json")["champion"]["model_name"]
    assert store.approval(model, "1") is None and store.champion_version(model) is None
    assert read(run_dir / "artifacts" / "explain.json")["promotion"]["status"] == promotion.AWAITING
    (run_dir / "ml_test_score.json").write_text(good)

    from kit.__main__ import main

    assert main(["signoff", str(run_dir), "--by", "Ann Lee, <credit> risk", "--why", "read the report"]) == 0
    assert store.champion_version(model) == "1"
    after = read(run_dir / "ml_test_score.json")
    gates = entry(after, "infrastructure-4")
    assert (gates["status"], gates["outcome"], gates["why"]) == ("automated", "passed", CHAMPION_WHY)
    # points follow the status, not the outcome: the figures stay, the finding is now the promoted model's
    assert {k: s["points"] for k, s in after["sections"].items()} == known and after["final"] == 0.0
    assert [t for t in after["tests"] if t["id"] != "infrastructure-4"] == [
        t for t in before["tests"] if t["id"] != "infrastructure-4"]
    assert after["readiness"] == before["readiness"] and after["readiness_gap"] == before["readiness_gap"]
    signoff = store.approval(model, "1")
    assert after["rechecked"] == [{"after": "sign-off", "by": "Ann Lee, <credit> risk", "at": signoff["at"],
                                   "status": "champion", "tests": ["infrastructure-4"], "changed": ["infrastructure-4"]}]
    # the same document as scoring the signed-off folder from scratch
    fresh = score_run(run_dir, manifest, load_config(config))
    assert {k: v for k, v in after.items() if k != "rechecked"} == json.loads(json.dumps(fresh))
    # the run's page shows the re-checked test, and who prompted it (escaped)
    index = (run_dir / "index.html").read_text()
    assert CHAMPION_WHY in index and AWAITING_WHY not in index
    assert "Re-checked after the sign-off by Ann Lee, &lt;credit&gt; risk at " in index
    assert "risk at " + signoff["at"] + ": infrastructure-4 (changed)</p>" in index
    assert not list(run_dir.glob(".ml_test_score.json.*"))  # written atomically, nothing left beside it

    # only the promotion checks read what a sign-off changes
    evidence_after = folder_evidence(run_dir, manifest)
    moved = {name for name, check in CHECKS.items() if check(evidence_before) != check(evidence_after)}
    assert moved == set(PROMOTION_CHECKS)

    # a re-check that would change a test's status (the readiness gap would go stale) is refused
    stale = {**after, "tests": [{**t, "status": "missing"} if t["id"] == "infrastructure-4" else t
                                for t in after["tests"]]}
    with pytest.raises(ArtifactError, match=r"re-checking infrastructure-4 changes its status \(missing -> automated\)"):
        recheck(stale, evidence_after, {"after": "sign-off"})


def test_an_accepted_gate_is_named_and_the_fairness_finding_stays(tmp_path: Path, store: Registry) -> None:
    # medium stakes: the failed fairness gate may be accepted with a recorded justification
    _, run_dir, _ = chained_run(tmp_path, stakes="medium", sensitive=["personal_status_sex"])
    before = read(run_dir / "ml_test_score.json")
    assert entry(before, "infrastructure-4")["why"] == "7 gates decided the promotion: candidate (failed: fairness)"
    assert entry(before, "model-7")["outcome"] == "failed"
    result = promotion.give_signoff(run_dir, "Bo Chan, lending", "gap explained by loan purpose", accept=["fairness"])
    assert result["status"] == "champion"
    after = read(run_dir / "ml_test_score.json")
    gates = entry(after, "infrastructure-4")
    assert (gates["outcome"], gates["why"]) == (
        "passed", "7 gates decided the promotion: champion (all passed; fairness accepted with a recorded justification)")
    assert entry(after, "model-7") == entry(before, "model-7")  # the fairness gate did fail: a person accepted it
    assert after["rechecked"][0]["by"] == "Bo Chan, lending" and after["rechecked"][0]["changed"] == ["infrastructure-4"]
    assert "fairness accepted with a recorded justification" in (run_dir / "index.html").read_text()
