"""The roll-up with hostile inputs (not a run, half-written, older kit, damaged artifacts, failed runs),
its command line and the batch hook: one clear line on the page and the CLI, never a crash."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.__main__ import main
from kit.org.build import build_rollup
from kit.org.page import heat_color
from kit.org.tables import duplicate_keys

RUNS = Path(__file__).resolve().parent / "data" / "org_runs"


def copy_run(name: str, dest: Path) -> Path:
    """A copy of one example run at ``dest``."""
    shutil.copytree(RUNS / name, dest)
    return dest


def edit_json(path: Path, change) -> None:
    """Rewrite a JSON file through ``change(data)``."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def build(paths: list[Path], out: Path) -> tuple[dict, str]:
    """Build and return org.json and org.html."""
    build_rollup(paths, out)
    return json.loads((out / "org.json").read_text()), (out / "org.html").read_text()


def test_folders_that_are_not_runs_are_skipped_with_a_reason(tmp_path: Path) -> None:
    good = copy_run("field-ops", tmp_path / "field-ops")
    empty = tmp_path / "empty"
    empty.mkdir()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "manifest.json").write_text(json.dumps({"name": "someone else's manifest"}))
    a_file = tmp_path / "notes.txt"
    a_file.write_text("hello")
    data, html = build([good, empty, foreign, a_file, tmp_path / "missing"], tmp_path / "out")
    reasons = {Path(s["folder"]).name: s["reason"] for s in data["skipped"]}
    assert reasons == {"empty": "not a kit run folder (no manifest.json)",
                       "foreign": "not a kit run folder (manifest.json is not a kit manifest)",
                       "notes.txt": "not a folder (pass run folders or a batch folder)",
                       "missing": "no such folder"}
    assert [r["run"] for r in data["runs"]] == ["field-ops"]
    assert "4 folder(s) skipped" in html and "not a kit run folder (no manifest.json)" in html


def test_half_written_runs_are_named_not_read(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    copy_run("field-ops", batch / "field-ops")
    copy_run("lending", batch / ".lending.tmp-abc123")  # a build folder left by a killed run
    truncated = copy_run("consumer-2026q1", batch / "consumer-2026q1")
    text = (truncated / "artifacts" / "readiness.json").read_text()
    (truncated / "artifacts" / "readiness.json").write_text(text[: len(text) // 2])
    edit_json(truncated / "manifest.json", lambda m: m.update(status="running"))
    bad_manifest = copy_run("consumer-2026q3", batch / "consumer-2026q3")
    (bad_manifest / "manifest.json").write_text('{"run_name": "consumer-2026q3", "sta')
    data, html = build([batch], tmp_path / "out")
    skipped = {Path(s["folder"]).name: s["reason"] for s in data["skipped"]}
    assert skipped[".lending.tmp-abc123"].startswith("half-written run: the build folder")
    assert skipped["consumer-2026q3"] == "half-written or damaged run: manifest.json: not valid JSON (half-written or damaged)"
    runs = {r["run"]: r for r in data["runs"]}
    assert runs["consumer-2026q1"]["error"].startswith("half-written run: its manifest still says running")
    assert "artifacts/readiness.json: not valid JSON" in runs["consumer-2026q1"]["notes"]
    assert "consumer-2026q1" not in {r["run"] for r in data["pillars"]}  # no figures from a damaged artifact
    assert "1 run(s) failed, 2 folder(s) skipped" in html


def test_run_from_an_older_kit_version_shows_what_it_has(tmp_path: Path) -> None:
    old = copy_run("lending", tmp_path / "old")

    def older(manifest: dict) -> None:
        for key in ("kind", "business_unit", "as_of"):
            manifest.pop(key)
        manifest["kit_version"] = "0.0.9"

    edit_json(old / "manifest.json", older)
    edit_json(old / "artifacts" / "readiness.json", lambda r: [r.pop(k) for k in ("maturity", "declared_level", "blockers")])
    edit_json(old / "artifacts" / "explain.json", lambda e: e.pop("promotion"))
    (old / "ml_test_score.json").unlink(missing_ok=True)  # older kits wrote none
    data, html = build([old], tmp_path / "out")
    run = data["runs"][0]
    assert run["unit"] == "lending" and run["as_of"] == run["started"][:10]
    assert "made by kit 0.0.9" in run["notes"] and "no business unit recorded" in run["notes"]
    pillars = data["pillars"][0]
    assert pillars["declared_level"] is None and pillars["maturity_level"] == 1 and pillars["blockers"] == 0
    model = data["models"][0]
    training = json.loads((old / "artifacts" / "training.json").read_text())
    assert model["status"] == training["promotion"]["status"]  # phase 2's decision when phase 3 recorded none
    assert model["ml_test_final"] is None
    assert "made by kit 0.0.9" in html


@pytest.mark.parametrize("damage", [
    lambda r: r.update(pillars=[1, 2, 3]),
    lambda r: r.update(blockers="data"),
    lambda r: r.update(maturity_level="two"),
])
def test_artifacts_of_an_unexpected_shape_never_crash(tmp_path: Path, damage) -> None:
    run = copy_run("lending", tmp_path / "lending")
    edit_json(run / "artifacts" / "readiness.json", damage)
    edit_json(run / "artifacts" / "use_cases.json", lambda u: u.update(ranking={"not": "a list"}))
    edit_json(run / "artifacts" / "monitoring.json", lambda m: m.update(alerts=None, batches="x"))
    (run / "ml_test_score.json").write_text(json.dumps({"final": "high", "sections": []}))
    data, html = build([run], tmp_path / "out")
    assert [r["run"] for r in data["runs"]] == ["lending"]
    assert data["portfolio"] == []
    assert data["models"][0]["alerts"] == 0 and data["models"][0]["ml_test_final"] is None
    assert "Consumer lending" in html


def test_a_run_whose_artifact_breaks_the_summary_is_skipped_not_fatal(tmp_path: Path) -> None:
    run = copy_run("lending", tmp_path / "lending")
    edit_json(run / "artifacts" / "explain.json", lambda e: e.update(promotion="champion"))  # a string, not the record
    good = copy_run("field-ops", tmp_path / "field-ops")
    data, html = build([run, good], tmp_path / "out")
    assert [r["run"] for r in data["runs"]] == ["field-ops"]
    assert data["skipped"][0]["reason"].startswith("artifacts of an unexpected shape")


def test_failed_run_appears_with_its_reason(tmp_path: Path) -> None:
    failed = copy_run("consumer-2026q1", tmp_path / "consumer-2026q1.failed")

    def fail_training(manifest: dict) -> None:
        manifest["status"] = "failed"
        for phase in manifest["phases"]:
            if phase["name"] == "training":
                phase.update(status="failed", error="DataError: target 'Churn' has one class")
            elif phase["name"] in ("explainability", "monitoring"):
                phase.update(status="skipped")

    edit_json(failed / "manifest.json", fail_training)
    for name in ("training", "explain", "monitoring"):
        (failed / "artifacts" / f"{name}.json").unlink()
    copy_run("consumer-2026q3", tmp_path / "consumer-2026q3")
    data, html = build([tmp_path], tmp_path / "out")
    runs = {r["run"]: r for r in data["runs"]}
    assert runs["consumer-2026q1"]["error"] == "training: DataError: target 'Churn' has one class"
    assert "training: DataError: target &#x27;Churn&#x27; has one class" in html
    assert [t["health"] for t in data["trend"]] == [None, "needs attention"]
    assert "run failed at training" in html


def test_user_strings_are_escaped(tmp_path: Path) -> None:
    run = copy_run("field-ops", tmp_path / "x")
    edit_json(run / "manifest.json", lambda m: m.update(business_unit="<script>alert(1)</script>",
                                                        organization='Acme "&" <b>Co</b>'))
    edit_json(run / "artifacts" / "use_cases.json", lambda u: u["ranking"][0].update(name="<img src=x onerror=1>"))
    _, html = build([run], tmp_path / "out")
    assert "<script>" not in html and "<img" not in html and "<b>Co</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "Acme &quot;&amp;&quot; &lt;b&gt;Co&lt;/b&gt;" in html


def test_cli_builds_and_names_skipped_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy_run("field-ops", tmp_path / "runs" / "field-ops")
    (tmp_path / "runs" / "junk").mkdir()
    (tmp_path / "runs" / "junk" / "manifest.json").write_text("[]")
    code = main(["org", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 0
    assert "1 runs of 1 units (0 failed, 1 skipped)" in captured.out
    assert "skipped:" in captured.err and "junk: not a kit run folder" in captured.err
    assert (tmp_path / "out" / "org.html").is_file() and (tmp_path / "out" / "org.json").is_file()


def test_cli_with_no_run_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    code = main(["org", str(tmp_path / "empty"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: no kit run to roll up") and "no manifest.json" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "org.html").exists()


def test_a_page_the_kit_did_not_write_is_not_overwritten(tmp_path: Path) -> None:
    run = copy_run("field-ops", tmp_path / "run")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "org.html").write_text("<html>my own page</html>")
    with pytest.raises(Exception, match="not written by the kit"):
        build_rollup([run], tmp_path / "out")
    assert (tmp_path / "out" / "org.html").read_text() == "<html>my own page</html>"


def test_batch_index_links_the_rollup_and_lists_runs_that_never_got_a_folder(tmp_path: Path) -> None:
    from kit.batch import _rollup
    from kit.report import write_batch_index

    out = tmp_path / "batch"
    copy_run("field-ops", out / "field-ops")
    results = [{"name": "field-ops", "config": "x", "status": "ok", "seconds": 1.0, "report": str(out / "field-ops"),
                "error": None},
               {"name": "broken", "config": "y", "status": "failed", "seconds": None, "report": None,
                "error": "config error: unknown key 'trainig'"}]
    write_batch_index(out, results, rollup=_rollup(out, results))
    index = (out / "index.html").read_text()
    assert '<a href="org.html">Organization roll-up</a>' in index
    data = json.loads((out / "org.json").read_text())
    assert data["skipped"] == [{"folder": "broken", "reason": "failed before it wrote a report: config error: unknown key 'trainig'"}]


def test_batch_index_says_why_there_is_no_rollup(tmp_path: Path) -> None:
    from kit.batch import _rollup
    from kit.report import write_batch_index

    out = tmp_path / "batch"
    out.mkdir()
    (out / "org.html").write_text("not the kit's")
    results = [{"name": "a", "config": "x", "status": "failed", "seconds": None, "report": None, "error": "boom"}]
    write_batch_index(out, results, rollup=_rollup(out, results))
    assert "Organization roll-up not built: " in (out / "index.html").read_text()


def test_heat_colors_known_values() -> None:
    stops = [[1.0, "#d64545"], [2.0, "#f29b4b"], [5.0, "#3f9142"]]
    assert heat_color(1.0, stops) == "#d64545" and heat_color(5.0, stops) == "#3f9142"
    assert heat_color(0.2, stops) == "#d64545" and heat_color(9, stops) == "#3f9142"  # clamped
    assert heat_color(1.5, stops) == "#e47048"  # halfway: (0xd6+0xf2)/2=0xe4, (0x45+0x9b)/2=0x70, (0x45+0x4b)/2=0x48
    assert heat_color(None, stops) == "#e4e7eb"


@given(st.text(alphabet=st.characters(whitelist_categories=("Lu", "Ll", "Nd"), max_codepoint=127), min_size=1),
       st.sampled_from([" ", "-", "_", "  ", " / "]))
def test_duplicate_keys_ignore_case_and_punctuation(word: str, sep: str) -> None:
    import pandas as pd

    names = pd.Series([f"{word} prediction", f"{word.upper()}{sep}PREDICTION", f" {word.lower()}{sep}prediction. "])
    keys = duplicate_keys(names, "[^0-9a-z]+")
    assert keys.nunique() == 1


def test_same_unit_name_in_two_organizations_stays_two_units(tmp_path: Path) -> None:
    mobile = copy_run("consumer-2026q3", tmp_path / "runs" / "a")
    other = copy_run("lending", tmp_path / "runs" / "b")
    edit_json(other / "manifest.json", lambda m: m.update(organization="Fabrikam", business_unit="Consumer mobile"))
    data, html = build([mobile, other], tmp_path / "out")
    assert data["units"] == ["Fabrikam / Consumer mobile", "Meridian Group / Consumer mobile"]
    assert all(data["runs"][i]["latest"] for i in range(2))  # neither replaces the other
    assert "Fabrikam / Consumer mobile" in html
