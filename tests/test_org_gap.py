"""The roll-up shows each run's readiness gap: where its self-assessment and its own evidence disagree.

Built from copies of the real Meridian Group runs in ``tests/data/org_runs/`` (their ``ml_test_score.json``
as the chain wrote it), checked against those files, plus hostile and older runs.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from kit.org.build import build_rollup

RUNS = Path(__file__).resolve().parent / "data" / "org_runs"


def copy_runs(dest: Path, *names: str) -> Path:
    """A batch-like folder with copies of the named example runs (all four when none is named)."""
    for name in names or [p.name for p in RUNS.iterdir() if p.is_dir()]:
        shutil.copytree(RUNS / name, dest / name)
    return dest


def edit_score(run_dir: Path, change) -> None:
    """Rewrite a run's ml_test_score.json through ``change(doc)``."""
    path = run_dir / "ml_test_score.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def build(folder: Path, out: Path) -> tuple[dict, str]:
    """Build the roll-up of ``folder``; return org.json and org.html."""
    build_rollup([folder], out)
    return json.loads((out / "org.json").read_text()), (out / "org.html").read_text()


def gaps_by_run(data: dict) -> dict[str, dict]:
    """org.json's readiness_gap rows keyed by run name."""
    return {r["run"]: r for r in data["readiness_gap"]}


def gap_section(html: str) -> str:
    """The page's self-assessment card."""
    return re.search(r'<section class="card" id="gap">.*?</section>', html, re.S).group(0)


def test_each_runs_gap_is_its_ml_test_score_items(tmp_path: Path) -> None:
    data, html = build(copy_runs(tmp_path / "batch"), tmp_path / "out")
    rows = gaps_by_run(data)
    assert set(rows) == {"consumer-2026q1", "consumer-2026q3", "field-ops", "lending"}
    for name, row in rows.items():
        recorded = json.loads((RUNS / name / "ml_test_score.json").read_text())["readiness_gap"]
        assert row["recorded"] is True and row["count"] == len(recorded) and row["why_not"] is None
        assert [g["item"] for g in row["items"]] == [g.get("pillar") or g["item"] for g in recorded]
        assert [g["note"] for g in row["items"]] == [g["note"] for g in recorded]
    # known values of the example: counts, a claimed-but-not-shown item and the process pillar capped by the score
    assert {n: r["count"] for n, r in rows.items()} == {"consumer-2026q1": 6, "consumer-2026q3": 6, "field-ops": 3,
                                                         "lending": 1}
    assert rows["lending"]["items"] == [{"item": "declared_level", "kind": "item", "declared": "2", "evidence": "1",
                                         "note": "declared level 2; with this run's evidence the kit estimates level 1"}]
    registry = next(g for g in rows["consumer-2026q3"]["items"] if g["item"] == "readiness.capabilities.model_registry")
    assert (registry["declared"], registry["evidence"]) == ("true", "infrastructure-4, infrastructure-7: automated, missing")
    process = next(g for g in rows["field-ops"]["items"] if g["kind"] == "pillar")
    assert (process["item"], process["declared"], process["evidence"]) == ("process", "3.4", "2")
    assert {r["unit"] for r in rows.values()} == {"Consumer lending", "Consumer mobile", "Field operations"}
    # the page: one card, linked from the navigation, with each run's count and its items
    card = gap_section(html)
    assert '<a href="#gap">Self-assessment</a>' in html
    assert card.count("6 disagreements") == 2 and "3 disagreements" in card and "1 disagreement<" in card
    assert "readiness.<wbr>capabilities.<wbr>model_registry" in card and "process<wbr> pillar" not in card
    assert "process pillar</td><td>3.4</td><td>2</td>" in card
    assert "infrastructure-7: missing</td>" in card


def test_hostile_pillar_names_and_values_are_escaped(tmp_path: Path) -> None:
    batch = copy_runs(tmp_path / "batch", "field-ops")

    def hostile(doc: dict) -> None:
        doc["readiness_gap"] = [
            {"pillar": "<script>alert(1)</script>", "declared": '"><img src=x onerror=alert(2)>', "evidence": 2.0,
             "note": "a & b <i>"},
            "not an item", 7, None,
        ]

    edit_score(batch / "field-ops", hostile)
    data, html = build(batch, tmp_path / "out")
    row = gaps_by_run(data)["field-ops"]
    assert row["count"] == 1 and row["items"][0] == {"item": "<script>alert(1)</script>", "kind": "pillar",
                                                     "declared": '"><img src=x onerror=alert(2)>', "evidence": "2",
                                                     "note": "a & b <i>"}
    card = gap_section(html)
    assert "<script" not in html and "<img" not in html and "<i>" not in card
    assert "&lt;script&gt;alert(1)&lt;/script&gt; pillar" in card
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in card and "a &amp; b &lt;i&gt;" in card
    assert "3 readiness_gap entries of an unexpected shape ignored" in next(
        r["notes"] for r in data["runs"] if r["run"] == "field-ops")
    # still static and offline: no script, no external address
    assert not re.search(r"<script|https?://|src=\"http", html)


def test_older_runs_and_runs_without_a_score_say_not_recorded(tmp_path: Path) -> None:
    batch = copy_runs(tmp_path / "batch")
    edit_score(batch / "consumer-2026q1", lambda doc: doc.pop("readiness_gap"))  # a kit before the gap was recorded
    (batch / "lending" / "ml_test_score.json").unlink()
    edit_score(batch / "field-ops", lambda doc: doc.update(readiness_gap={"process": 2}))  # damaged
    edit_score(batch / "consumer-2026q3", lambda doc: doc.update(readiness_gap=[]))  # agrees on everything
    data, html = build(batch, tmp_path / "out")
    rows = gaps_by_run(data)
    assert rows["consumer-2026q1"] == {**rows["consumer-2026q1"], "recorded": False, "count": None, "items": []}
    assert "did not compare the self-assessment" in rows["consumer-2026q1"]["why_not"]
    assert rows["lending"]["recorded"] is False and rows["lending"]["why_not"] == (
        "no ML Test Score (ml_test_score.json) in this run")
    assert rows["field-ops"]["recorded"] is False and "not a list (damaged)" in rows["field-ops"]["why_not"]
    assert rows["consumer-2026q3"]["recorded"] is True and rows["consumer-2026q3"]["count"] == 0
    card = gap_section(html)
    assert card.count(">not recorded</span>") == 3
    assert ">not recorded</span></td><td colspan=\"4\" class=\"meta\">no ML Test Score (ml_test_score.json) in this run<" in card
    assert "agree on every item compared" in card and "0 disagreements" in card
