"""The organization example end to end: its configs record unit and date, and `kit batch` rolls its real runs up."""
from __future__ import annotations

import json
from pathlib import Path

from kit.config import load_config
from kit.manifest import new_manifest

ORG = Path(__file__).resolve().parent.parent / "data" / "configs" / "org"
DEMO = Path(__file__).resolve().parent.parent / "data" / "configs" / "demo.yaml"


def test_manifest_records_business_unit_and_as_of() -> None:
    manifest = new_manifest(load_config(ORG / "consumer-2026q1.yaml"), ["readiness"], "2026-12-03T09:00:00+00:00", {})
    assert (manifest.business_unit, manifest.as_of) == ("Consumer mobile", "2026-03-31")
    demo = new_manifest(load_config(DEMO), ["readiness"], "2026-12-03T09:00:00+00:00", {})
    assert (demo.business_unit, demo.as_of) == ("Consumer", "2026-12-03")  # no as_of: the day the run starts


def test_example_has_three_units_a_blocker_config_and_two_dates_for_one_unit() -> None:
    configs = [load_config(p) for p in sorted(ORG.glob("*.yaml"))]
    units = {c.organization.business_unit for c in configs}
    assert len(units) >= 3 and {c.organization.name for c in configs} == {"Meridian Group"}
    dates = {}
    for c in configs:
        dates.setdefault(c.organization.business_unit, set()).add(c.readiness.as_of)
    assert max(len(d) for d in dates.values()) >= 2


def test_batch_of_real_runs_writes_a_rollup_linked_from_its_index(tmp_path: Path) -> None:
    from kit.batch import run_batch

    out = tmp_path / "org"
    configs = [ORG / "lending.yaml", ORG / "consumer-2026q1.yaml"]
    results = run_batch(configs, out=out, workers=2, phases="readiness,use_cases", show_progress=False)
    assert [r["status"] for r in results] == ["ok", "ok"]
    assert '<a href="org.html">Organization roll-up</a>' in (out / "index.html").read_text()
    data = json.loads((out / "org.json").read_text())
    readiness = {p.name: json.loads((p / "artifacts" / "readiness.json").read_text()) for p in out.iterdir() if p.is_dir()}
    assert {r["unit"]: r["as_of"] for r in data["runs"]} == {"Consumer lending": "2026-09-30", "Consumer mobile": "2026-03-31"}
    for row in data["pillars"]:
        assert {k: row[k] for k in readiness[row["run"]]["pillars"]} == readiness[row["run"]]["pillars"]
    assert sorted((b["run"], b["pillar"], b["score"]) for b in data["blockers"]) == sorted(
        (run, b["pillar"], b["score"]) for run, r in readiness.items() for b in r["blockers"])
    assert "lending" in {b["run"] for b in data["blockers"]}
    assert data["models"] == []  # no training phase in this batch
    assert {d["name"] for d in data["duplicates"]} == {"Credit risk scoring"}
