"""The organization roll-up, built from copies of real run folders and checked against their artifacts.

``tests/data/org_runs/`` holds manifest.json and artifacts/*.json of the four runs of the Meridian Group
example (`make org`, data/configs/org/). Each test copies them; ``ml_test_score.json`` is written per
the mltest contract (issue 15) with known points.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kit.org.build import build_rollup

RUNS = Path(__file__).resolve().parent / "data" / "org_runs"
SECTIONS = ("data", "model", "infrastructure", "monitoring")


def write_score(run_dir: Path, points: dict[str, float]) -> dict:
    """An ml_test_score.json per the contract: 7 tests a section, ``points[section]`` of them earned."""
    tests = []
    for section in SECTIONS:
        left = points[section]
        for i in range(1, 8):
            got = 1.0 if left >= 1 else 0.5 if left >= 0.5 else 0.0
            left -= got
            status = {1.0: "automated", 0.5: "manual", 0.0: "missing"}[got]
            tests.append({"id": f"{section}-{i}", "section": section, "title": f"{section} test {i}",
                          "status": status, "points": got, "evidence": "artifacts/training.json" if got else None,
                          "why": "known fixture value"})
    score = {"format": 1, "rubric": "Breck et al. 2017, The ML Test Score", "final": min(points.values()),
             "sections": {s: {"points": points[s], "max": 7} for s in SECTIONS}, "tests": tests,
             "readiness_gap": []}
    (run_dir / "ml_test_score.json").write_text(json.dumps(score), encoding="utf-8")
    return score


SCORES = {
    "consumer-2026q1": {"data": 2.5, "model": 3.0, "infrastructure": 1.5, "monitoring": 2.0},
    "consumer-2026q3": {"data": 4.0, "model": 3.5, "infrastructure": 3.0, "monitoring": 4.5},
    "lending": {"data": 1.0, "model": 2.5, "infrastructure": 1.5, "monitoring": 2.0},
    "field-ops": {"data": 5.0, "model": 4.5, "infrastructure": 4.0, "monitoring": 3.5},
}


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A batch-like folder with copies of the four example runs, each with an ML Test Score."""
    batch = tmp_path / "batch"
    shutil.copytree(RUNS, batch)
    for name, points in SCORES.items():
        write_score(batch / name, points)
    return batch


def artifact(run_dir: Path, name: str) -> dict:
    """One artifact of a run folder."""
    return json.loads((run_dir / "artifacts" / f"{name}.json").read_text(encoding="utf-8"))


def rollup(runs: Path, out: Path) -> tuple[dict, str]:
    """Build the roll-up of ``runs`` into ``out``; return org.json and org.html."""
    build_rollup([runs], out)
    return json.loads((out / "org.json").read_text()), (out / "org.html").read_text()


def by_run(rows: list[dict]) -> dict[str, dict]:
    """Rows of an org.json table keyed by run name."""
    return {r["run"]: r for r in rows}


def test_pillars_and_maturity_are_the_readiness_artifacts(runs: Path, tmp_path: Path) -> None:
    data, html = rollup(runs, tmp_path / "out")
    rows = by_run(data["pillars"])
    assert set(rows) == set(SCORES)
    for name, row in rows.items():
        readiness = artifact(runs / name, "readiness")
        assert {p: row[p] for p in readiness["pillars"]} == readiness["pillars"]
        assert row["maturity_level"] == readiness["maturity_level"]
        assert row["declared_level"] == readiness["declared_level"]
        assert row["gap"] == readiness["declared_level"] - readiness["maturity_level"]
        assert row["blockers"] == len(readiness["blockers"])
    assert data["units"] == ["Consumer lending", "Consumer mobile", "Field operations"]
    latest = {r["unit"]: r["run"] for r in data["pillars"] if r["latest_readiness"]}
    assert latest == {"Consumer lending": "lending", "Consumer mobile": "consumer-2026q3", "Field operations": "field-ops"}
    lending = artifact(runs / "lending", "readiness")
    assert f'>{lending["pillars"]["data"]:.1f}</span>' in html


def test_blockers_across_the_organization(runs: Path, tmp_path: Path) -> None:
    data, html = rollup(runs, tmp_path / "out")
    expected = [(b["pillar"], b["score"], b["fix"]) for b in artifact(runs / "lending", "readiness")["blockers"]]
    assert len(expected) >= 1
    assert [(b["pillar"], b["score"], b["fix"]) for b in data["blockers"]] == expected
    assert {b["unit"] for b in data["blockers"]} == {"Consumer lending"}
    assert "Blockers across the organization (%d)" % len(expected) in html


def test_models_registry_gates_fairness_score_and_health_come_from_the_runs(runs: Path, tmp_path: Path) -> None:
    data, html = rollup(runs, tmp_path / "out")
    models = by_run(data["models"])
    assert set(models) == set(SCORES)
    for name, row in models.items():
        training, explain, monitoring = (artifact(runs / name, a) for a in ("training", "explain", "monitoring"))
        promotion = explain["promotion"]
        assert row["status"] == promotion["status"]
        assert row["model"] == training["champion"]["model_name"] and row["version"] == training["champion"]["version"]
        assert row["gates_total"] == len(promotion["gates"])
        assert row["gates_passed"] == sum(g["passed"] for g in promotion["gates"].values())
        assert row["failed_gates"] == ", ".join(sorted(promotion["failed_gates"]))
        assert row["fairness"] == explain["fairness_gate"]
        assert row["metric_value"] == training["champion"]["metrics"]["roc_auc"]["value"]
        assert row["ml_test_final"] == min(SCORES[name].values())
        assert row["alerts"] == len(monitoring["alerts"])
        assert row["critical"] == sum(a["severity"] == "critical" for a in monitoring["alerts"])
        assert row["health_status"] == monitoring["headline_status"]
        assert row["watched"] == monitoring["watched"]["role"]
    assert models["field-ops"]["status"] == "champion"
    assert html.count('class="badge ok">champion<') == 1


def test_ml_test_counts_follow_the_score_file(runs: Path, tmp_path: Path) -> None:
    score = json.loads((runs / "lending" / "ml_test_score.json").read_text())
    counts = {s: sum(t["status"] == s for t in score["tests"]) for s in ("automated", "manual", "missing")}
    data, _ = rollup(runs, tmp_path / "out")
    row = by_run(data["models"])["lending"]
    assert row["ml_test_counts"] == f'{counts["automated"]} automated, {counts["manual"]} manual, {counts["missing"]} missing'
    assert row["ml_test_final"] == 1.0
    assert row["ml_test_sections"] == "data 1/7 · model 2.5/7 · infrastructure 1.5/7 · monitoring 2/7"


def test_score_change_in_a_run_changes_the_rollup(runs: Path, tmp_path: Path) -> None:
    before, _ = rollup(runs, tmp_path / "a")
    write_score(runs / "field-ops", {**SCORES["field-ops"], "data": 0.5})  # e.g. its data contract removed
    after, _ = rollup(runs, tmp_path / "b")
    assert by_run(before["models"])["field-ops"]["ml_test_final"] == 3.5
    assert by_run(after["models"])["field-ops"]["ml_test_final"] == 0.5


def test_combined_portfolio_and_duplicates_across_units(runs: Path, tmp_path: Path) -> None:
    data, html = rollup(runs, tmp_path / "out")
    portfolio = data["portfolio"]
    for unit, name in (("Consumer lending", "lending"), ("Consumer mobile", "consumer-2026q3"),
                       ("Field operations", "field-ops")):
        ranking = {r["name"]: r for r in artifact(runs / name, "use_cases")["ranking"]}
        rows = {r["name"]: r for r in portfolio if r["unit"] == unit}
        assert set(rows) == set(ranking)
        for use_case, row in rows.items():
            assert row["value"] == ranking[use_case]["value_score"]
            assert row["feasibility"] == ranking[use_case]["feasibility_score"]
            assert row["priority"] == pytest.approx(row["value"] * row["feasibility"])
    assert {r["run"] for r in portfolio} == {"lending", "consumer-2026q3", "field-ops"}  # latest run per unit
    priorities = [r["priority"] for r in portfolio]
    assert priorities == sorted(priorities, reverse=True)
    dups = {d["name"]: d["units"] for d in data["duplicates"]}
    assert dups == {"Churn prediction": "Consumer mobile, Field operations",
                    "Credit risk scoring": "Consumer lending, Consumer mobile",
                    "Predictive maintenance": "Consumer mobile, Field operations"}
    pilots = {r["unit"]: r["name"] for r in portfolio if r["pilot"]}
    assert pilots == {u: artifact(runs / n, "use_cases")["pilot"]["name"] for u, n in
                      (("Consumer lending", "lending"), ("Consumer mobile", "consumer-2026q3"),
                       ("Field operations", "field-ops"))}
    assert html.count("<circle") >= len(portfolio)


def test_trend_for_the_unit_with_runs_on_two_dates(runs: Path, tmp_path: Path) -> None:
    data, html = rollup(runs, tmp_path / "out")
    trend = data["trend"]
    assert [(r["unit"], r["as_of"]) for r in trend] == [("Consumer mobile", "2026-03-31"),
                                                         ("Consumer mobile", "2026-09-30")]
    for row in trend:
        readiness = artifact(runs / row["run"], "readiness")
        assert row["data"] == readiness["pillars"]["data"]
        assert row["ml_test_final"] == min(SCORES[row["run"]].values())
    assert trend[1]["data"] > trend[0]["data"]  # the Q3 answers improved the data pillar
    assert 'aria-label="pillars over time"' in html


def test_page_is_offline_and_links_runs(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _, html = rollup(runs, out)
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "<link" not in html and "@import" not in html
    for name in SCORES:
        (runs / name / "index.html").write_text("<html></html>")
    _, html = rollup(runs, out)
    assert '<a href="../batch/field-ops/index.html">' in html


def test_same_config_and_runs_give_the_same_files(runs: Path, tmp_path: Path) -> None:
    a = rollup(runs, tmp_path / "a")
    b = rollup(runs, tmp_path / "b")
    assert a == b
