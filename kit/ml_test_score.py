"""The ML Test Score (Breck et al. 2017) of a run, scored from the run's own artifacts.

``score`` is pure (an ``Evidence`` bundle in, the ``ml_test_score.json`` document out); the
rubric lives in ``kit/content/ml_test_score.yaml``. ``collect_evidence`` and ``write_score`` are
the only functions that read or write files, with ``recheck_run`` (after a sign-off: the tests that
read the promotion decision, scored again by the pure ``recheck``); ``earlier_score`` reads an
earlier run's score for phase 0.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kit.content import load
from kit.errors import ArtifactError
from kit.monitoring.alerts import TASK_RULES

FILE_NAME = "ml_test_score.json"
ARTIFACTS = ("readiness", "training", "explain", "monitoring")
METRIC_TOLERANCE = 1e-9  # same config, same data, same seed: the same metrics, to rounding
PERFORMANCE_RULES = ("auc_drop", "recall_floor", *(rule[0] for rules in TASK_RULES.values() for rule in rules))
"""The monitoring alert rules on prediction quality, for every task."""


@dataclass(frozen=True)
class Evidence:
    """What a run folder shows: its artifacts, manifest, files present, practices answered, earlier run."""

    artifacts: Mapping[str, dict[str, Any] | None]
    manifest: Mapping[str, Any] | None = None
    files: frozenset[str] = frozenset()
    practices: Mapping[str, bool] = field(default_factory=dict)
    earlier: Mapping[str, Any] | None = None  # {"path", "manifest", "training"} or {"path", "problem"}

    def get(self, name: str) -> dict[str, Any] | None:
        """An artifact by name, None when the phase did not write it."""
        return self.artifacts.get(name)


@dataclass(frozen=True)
class Verdict:
    """A check's result: whether the kit verified the test, why (one sentence), and the test's outcome."""

    verified: bool
    why: str
    outcome: str | None = None  # passed | failed | info, for a verified test


def rubric() -> dict[str, Any]:
    """The rubric content: sections, the 28 tests, bands and readiness-gap rules."""
    return load("ml_test_score")


def _absent(phase: str) -> Verdict:
    """The verdict for a test whose phase artifact is missing."""
    return Verdict(False, f"no {phase} artifact: the {phase} phase did not run (or failed) in this run")


def _pass(ok: bool) -> str:
    """'passed' or 'failed'."""
    return "passed" if ok else "failed"


# ---- the checks, one per automatable test ---------------------------------------------------------

def check_contract(ev: Evidence) -> Verdict:
    """data-1: the training phase saved a data contract (schema) and checked rows against it."""
    training = ev.get("training")
    if training is None:
        return _absent("training")
    contract = training.get("contract") or {}
    if "artifacts/contract.json" not in ev.files:
        return Verdict(False, "no data contract in artifacts/contract.json: feature expectations are not captured")
    gate = (training.get("gates") or {}).get("data contract")
    if gate is None:
        check = contract.get("test_check") or {}
        gate = {"passed": bool(check.get("passed")),
                "reason": f"the test rows {'pass' if check.get('passed') else 'fail'} it"}
    return Verdict(True, f"a pandera contract of {contract.get('columns', '?')} columns (types, ranges, "
                         f"categories) was saved; {gate.get('reason', '')}", _pass(bool(gate.get("passed"))))


def check_features_beneficial(ev: Evidence) -> Verdict:
    """data-2: the leakage screen ran on every feature and SHAP measured what each one adds."""
    training, explain = ev.get("training"), ev.get("explain")
    if training is None:
        return _absent("training")
    screen = (training.get("quality") or {}).get("leakage") or []
    if not screen:
        return Verdict(False, "the leakage screen did not score the features (no quality.leakage in training.json)")
    if explain is None or not explain.get("global_importance"):
        return Verdict(False, f"the leakage screen scored {len(screen)} features, but no importance was "
                              "measured (phase explainability did not run)")
    suspected = [r["feature"] for r in screen if r.get("suspected") or r.get("flagged")]
    useless = [r["feature"] for r in explain["global_importance"] if not r.get("mean_abs_shap")]
    parts = [f"{len(screen)} features screened for leakage on training rows ({len(suspected)} suspected)",
             f"{len(useless)} with zero mean |SHAP|"]
    return Verdict(True, "; ".join(parts), _pass(not suspected and not useless))


def check_feature_rules(ev: Evidence) -> Verdict:
    """data-4: no id, dropped or post-outcome column (nor an excluded sensitive one) is a model feature."""
    training = ev.get("training")
    if training is None:
        return _absent("training")
    spec = (training.get("dataset") or {}).get("spec") or {}
    features = set((training.get("champion") or {}).get("features") or [])
    if not spec or not features:
        return Verdict(False, "training.json records no dataset spec or feature list to check the rules against")
    banned = {*spec.get("id_columns", []), *spec.get("drop_columns", []), *spec.get("post_outcome_columns", []),
              *((training.get("quality") or {}).get("id_like_columns") or [])}
    if spec.get("sensitive_as_input") == "exclude":
        banned |= set(spec.get("sensitive", []))
    broken = sorted(features & banned)
    rules = ("declared ids, dropped and post-outcome columns, id-like columns" +
             (", sensitive columns" if spec.get("sensitive_as_input") == "exclude" else ""))
    why = (f"no banned column ({rules}: {len(banned)} in this data) is among the {len(features)} features"
           if not broken else f"banned columns used as features: {', '.join(broken)}")
    return Verdict(True, why, _pass(not broken))


def check_tuning(ev: Evidence) -> Verdict:
    """model-3: a hyperparameter search ran (more than one trial per algorithm)."""
    training = ev.get("training")
    if training is None:
        return _absent("training")
    models = [r for r in training.get("leaderboard") or [] if r.get("kind") == "model"]
    tuned = [r["candidate"] for r in models if (r.get("trials") or 1) > 1]
    if not tuned:
        return Verdict(False, "each algorithm was trained once with its defaults; set training.tuning.trials "
                              "to search hyperparameters")
    return Verdict(True, f"hyperparameters searched for {', '.join(tuned)} "
                         f"({', '.join(str(int(r['trials'])) for r in models if r['candidate'] in tuned)} trials)",
                   "passed")


def check_staleness_impact(ev: Evidence) -> Verdict:
    """model-4: the walk-forward replay measured what keeping or retraining the model gains or loses."""
    monitoring = ev.get("monitoring")
    if monitoring is None:
        return _absent("monitoring")
    retraining = monitoring.get("retraining") or {}
    judged = [t for t in retraining.get("timeline") or [] if t.get("delta") is not None]
    if not judged:
        return Verdict(False, "no retraining decision was judged on later data, so the cost of an aging "
                              "model was not measured (no rule fired, or too few batches)")
    against = retraining.get("vs_original")  # the final challenger against never retraining (older runs: none)
    gain = retraining.get("gain")
    if isinstance(against, (int, float)):
        said = (f"; against never retraining, the final challenger gained {against:+.3f} {retraining.get('metric', '')} "
                "on its judging window")
    elif isinstance(gain, (int, float)):
        said = f"; the last challenger gained {gain:+.3f} {retraining.get('metric', '')} over the model it would replace"
    else:
        said = ""
    return Verdict(True, f"the walk-forward replay judged {len(judged)} retraining decision(s) on unseen batches"
                         + said, "info")


def check_baseline_gate(ev: Evidence) -> Verdict:
    """model-5: the model was compared with simpler baselines on the selection metric."""
    training = ev.get("training")
    if training is None:
        return _absent("training")
    gate = (training.get("gates") or {}).get("beats baseline")
    if gate is None:
        return Verdict(False, "no baseline gate in training.json")
    return Verdict(True, gate.get("reason", ""), _pass(bool(gate.get("passed"))))


def _fairness(ev: Evidence) -> tuple[dict[str, Any] | None, Verdict | None]:
    """The explain artifact's fairness block, or the verdict that says why there is none."""
    explain = ev.get("explain")
    if explain is None:
        return None, _absent("explainability")
    fairness = explain.get("fairness") or {}
    if not fairness:
        return None, Verdict(False, "no sensitive or segment columns were checked (dataset.sensitive is empty)")
    return fairness, None


def check_slices(ev: Evidence) -> Verdict:
    """model-6: quality was measured per group of every sensitive (segment) column."""
    fairness, missing = _fairness(ev)
    if fairness is None:
        return missing  # type: ignore[return-value]
    groups = sum(len(v.get("metrics_by_group") or []) for v in fairness.values())
    return Verdict(True, f"selection, true and false positive rates measured for {groups} groups of "
                         f"{len(fairness)} column(s): {', '.join(fairness)}", "info")


def check_inclusion(ev: Evidence) -> Verdict:
    """model-7: the fairness gate (four-fifths rule, equalized odds) was evaluated."""
    fairness, missing = _fairness(ev)
    if fairness is None:
        return missing  # type: ignore[return-value]
    gate = ev.get("explain").get("fairness_gate")  # type: ignore[union-attr]
    failed = [c for c, v in fairness.items() if v.get("status") == "failed"]
    why = f"fairness gate {gate}" + (f" on {', '.join(failed)}" if failed else f" on {', '.join(fairness)}")
    return Verdict(True, why, _pass(gate == "passed") if gate in ("passed", "failed") else "info")


def _comparable(ev: Evidence) -> tuple[dict[str, Any] | None, str | None]:
    """The earlier run (manifest, training) when there is one to compare with, else why not."""
    earlier = ev.earlier
    if earlier is None:
        return None, ("no earlier run to compare with: set readiness.earlier_run to the report folder of an "
                      "earlier run of this config")
    if earlier.get("problem"):
        return None, earlier["problem"]
    return dict(earlier), None


def _metric_differences(now: Mapping[str, Any], then: Mapping[str, Any]) -> list[str]:
    """'name a -> b' for every test metric of the champion that differs beyond rounding."""
    return [f"{k} {then[k]['value']:.6g} -> {v['value']:.6g}" for k, v in now.items()
            if k in then and not math.isclose(v["value"], then[k]["value"], abs_tol=METRIC_TOLERANCE)]


def check_reproducible(ev: Evidence) -> Verdict:
    """infrastructure-1: same data, split and seed as an earlier run give the same test metrics."""
    training = ev.get("training")
    if training is None:
        return _absent("training")
    earlier, why = _comparable(ev)
    if earlier is None:
        return Verdict(False, why or "")
    before = earlier.get("training")
    if not before:
        return Verdict(False, f"the earlier run {earlier['path']} has no training artifact to compare with")
    split, split_before = training.get("split") or {}, before.get("split") or {}
    inputs = {"data sha256": ((training.get("dataset") or {}).get("sha256"), (before.get("dataset") or {}).get("sha256")),
              "split": ((split.get("data_hash"), split.get("index_hash")),
                        (split_before.get("data_hash"), split_before.get("index_hash"))),
              "seed": (split.get("seed"), split_before.get("seed")),
              "algorithm": ((training.get("champion") or {}).get("algorithm"),
                            (before.get("champion") or {}).get("algorithm"))}
    other = [k for k, (a, b) in inputs.items() if a != b]
    if other:
        return Verdict(False, f"the earlier run {earlier['path']} is not comparable (other {', '.join(other)})")
    diffs = _metric_differences((training.get("champion") or {}).get("metrics") or {},
                                (before.get("champion") or {}).get("metrics") or {})
    if diffs:
        return Verdict(True, f"same data, split and seed as {earlier['path']}, but other test metrics: "
                             + "; ".join(diffs), "failed")
    n = len((training.get("champion") or {}).get("metrics") or {})
    return Verdict(True, f"same data sha256, split hashes and seed as {earlier['path']}: all {n} test metrics "
                         "of the model are identical", "passed")


def check_pipeline_end_to_end(ev: Evidence) -> Verdict:
    """infrastructure-3: every phase of the chain, data to monitoring, ran in this run."""
    from kit.phases import PHASE_NAMES

    phases = {p["name"]: p["status"] for p in (ev.manifest or {}).get("phases", [])}
    not_ok = [n for n in PHASE_NAMES if phases.get(n) != "ok"]
    if not_ok:
        return Verdict(False, "the pipeline did not run end to end in this run: "
                              + ", ".join(f"{n} {phases.get(n, 'not selected')}" for n in not_ok))
    monitoring = ev.get("monitoring") or {}
    batches = monitoring.get("batches") or []
    if batches and not any(b.get("scored") for b in batches):
        return Verdict(True, f"all {len(PHASE_NAMES)} phases ran, but none of the {len(batches)} production batches "
                             "could be scored (see the monitoring report's data-quality findings): the path from data "
                             "to predictions in production was not exercised", "failed")
    where = ("; monitoring on the synthetic workshop scenario built from held-out rows" if monitoring.get("synthetic")
             else "")
    return Verdict(True, f"all {len(PHASE_NAMES)} phases, from data to monitoring, ran end to end in this run{where}",
                   "passed")


def check_gates_before_serving(ev: Evidence) -> Verdict:
    """infrastructure-4: the promotion decision was taken on gates before the model could serve."""
    explain = ev.get("explain")
    if explain is None:
        return _absent("explainability")
    promotion = explain.get("promotion") or {}
    gates = promotion.get("gates") or {}
    if not gates:
        return Verdict(False, "no promotion decision with gates in explain.json")
    failed, accepted = promotion.get("failed_gates") or [], promotion.get("accepted_gates") or []
    kept = f"; {', '.join(accepted)} accepted with a recorded justification" if accepted else ""
    return Verdict(True, f"{len(gates)} gates decided the promotion: {promotion.get('status')} "
                         + (f"(failed: {', '.join(failed)}{kept})" if failed else f"(all passed{kept})"),
                   _pass(not failed))


def check_single_prediction(ev: Evidence) -> Verdict:
    """infrastructure-5: per-row SHAP reason codes explain single predictions."""
    explain = ev.get("explain")
    if explain is None:
        return _absent("explainability")
    reasons = explain.get("reason_codes") or {}
    if not reasons.get("rows") or reasons.get("path") not in ev.files:
        return Verdict(False, "no per-row reason codes were written")
    return Verdict(True, f"SHAP contributions and the top {reasons.get('top_k')} reason codes for "
                         f"{reasons['rows']} rows ({reasons.get('scope')})", "info")


def check_rollback(ev: Evidence) -> Verdict:
    """infrastructure-7: the registry holds a previous champion to roll back to."""
    training = ev.get("training")
    if training is None:
        return _absent("training")
    champion = training.get("champion") or {}
    previous = champion.get("previous_champion")
    if not previous:
        return Verdict(False, f"no earlier champion of {champion.get('model_name', 'the model')} in the registry: "
                              "nothing to roll back to yet")
    label = previous if isinstance(previous, str) else (previous.get("version") if isinstance(previous, dict) else previous)
    return Verdict(True, f"the champion before this run (version {label}) stays in the registry: rolling back is "
                         "moving the champion alias", "passed")


def check_dependency_changes(ev: Evidence) -> Verdict:
    """monitoring-1: package versions are compared with the earlier run's and every change is named."""
    earlier, why = _comparable(ev)
    if earlier is None:
        return Verdict(False, why or "")
    now, then = (ev.manifest or {}).get("packages") or {}, (earlier.get("manifest") or {}).get("packages") or {}
    if not now or not then:
        return Verdict(False, "a manifest without package versions: nothing to compare")
    keys = {"python": "python", "kit": "kit_version"}
    versions_now = {**now, **{k: (ev.manifest or {}).get(v) for k, v in keys.items()}}
    versions_then = {**then, **{k: (earlier.get("manifest") or {}).get(v) for k, v in keys.items()}}
    changed = [f"{k} {versions_then.get(k)} -> {v}" for k, v in sorted(versions_now.items()) if versions_then.get(k) != v]
    if changed:
        return Verdict(True, f"{len(changed)} dependency change(s) since {earlier['path']}: {'; '.join(changed)}", "info")
    return Verdict(True, f"none of {len(versions_now)} tracked dependencies changed since {earlier['path']}", "passed")


def _batches(ev: Evidence) -> tuple[dict[str, Any] | None, Verdict | None]:
    """The monitoring artifact when it has batches, else the verdict that says why not."""
    monitoring = ev.get("monitoring")
    if monitoring is None:
        return None, _absent("monitoring")
    if not monitoring.get("batches"):
        return None, Verdict(False, "monitoring saw no production batches")
    return monitoring, None


def check_serving_invariants(ev: Evidence) -> Verdict:
    """monitoring-2: every production batch was checked against the training data contract."""
    monitoring, missing = _batches(ev)
    if monitoring is None:
        return missing  # type: ignore[return-value]
    issues = monitoring.get("data_quality") or []
    hit = sorted({i["batch"] for i in issues})
    return Verdict(True, f"{len(monitoring['batches'])} batches checked against the data contract: "
                         f"{len(issues)} finding(s)" + (f" in {len(hit)} batch(es)" if hit else ""),
                   _pass(not issues))


def check_staleness_watched(ev: Evidence) -> Verdict:
    """monitoring-4: the retraining rules were evaluated on every batch for the model serving then."""
    monitoring, missing = _batches(ev)
    if monitoring is None:
        return missing  # type: ignore[return-value]
    retraining = monitoring.get("retraining")
    if not retraining:
        return Verdict(False, "no retraining rules were evaluated")
    fired = [t for t in retraining.get("timeline") or [] if t.get("fired")]
    return Verdict(True, f"retraining rules evaluated on {len(monitoring['batches'])} batches; "
                         f"{len(fired)} fired, decision: {retraining.get('decision')}", "info")


def check_numerically_stable(ev: Evidence) -> Verdict:
    """monitoring-5: no missing or infinite scores on any production batch."""
    monitoring, missing = _batches(ev)
    if monitoring is None:
        return missing  # type: ignore[return-value]
    scores = monitoring.get("prediction_drift") or []
    if not scores:
        return Verdict(False, "no batch was scored")
    bad = [s["batch"] for s in scores if _unstable(s)]
    return Verdict(True, f"scores of {len(scores)} batches checked: "
                         + (f"missing or non-finite scores in {', '.join(bad)}" if bad else "all finite"),
                   _pass(not bad))


def _unstable(scores: Mapping[str, Any]) -> bool:
    """A batch's predictions hold a missing or non-finite value (binary scores, regression predictions; multiclass
    predictions are class indices, checked by their missing share)."""
    if (scores.get("missing_share") or 0) > 0:
        return True
    mean = next((k for k in ("mean_score", "mean_prediction") if k in scores), None)
    return mean is not None and (scores[mean] is None or not math.isfinite(float(scores[mean])))


def check_latency(ev: Evidence) -> Verdict:
    """monitoring-6: serving latency was measured against a budget."""
    monitoring = ev.get("monitoring")
    if monitoring is None:
        return _absent("monitoring")
    latency = monitoring.get("latency") or {}
    if latency.get("p95_ms") is None:
        return Verdict(False, "serving latency was not measured")
    budget = latency.get("budget_ms")
    tail = f", p99 {latency['p99_ms']:.1f} ms" if latency.get("p99_ms") is not None else ""
    return Verdict(True, f"p95 {latency['p95_ms']:.1f} ms{tail} per {latency.get('rows', '?')} rows"
                         + (f" against a budget of {budget:g} ms" if budget is not None else " (no budget set)"),
                   _pass(bool(latency.get("within_budget"))) if budget is not None else "info")


def check_quality_regression(ev: Evidence) -> Verdict:
    """monitoring-7: labelled batches were scored against the accepted test figures, with alert rules."""
    monitoring, missing = _batches(ev)
    if monitoring is None:
        return missing  # type: ignore[return-value]
    performance = monitoring.get("performance") or {}
    measured = performance.get("measured") or []
    if not measured or not performance.get("thresholds"):
        return Verdict(False, "no labelled batch was measured against the accepted test figures")
    fired = [a for a in monitoring.get("alerts") or [] if a.get("rule") in PERFORMANCE_RULES]
    return Verdict(True, f"{len(measured)} labelled batches measured against the accepted test "
                         f"{', '.join(sorted(performance['thresholds']))}; {len(fired)} performance alert(s)",
                   _pass(not fired))


CHECKS: dict[str, Callable[[Evidence], Verdict]] = {
    "contract": check_contract, "features_beneficial": check_features_beneficial,
    "feature_rules": check_feature_rules, "tuning": check_tuning, "staleness_impact": check_staleness_impact,
    "baseline_gate": check_baseline_gate, "slices": check_slices, "inclusion": check_inclusion,
    "reproducible": check_reproducible, "pipeline_end_to_end": check_pipeline_end_to_end,
    "gates_before_serving": check_gates_before_serving, "single_prediction": check_single_prediction,
    "rollback": check_rollback, "dependency_changes": check_dependency_changes,
    "serving_invariants": check_serving_invariants, "staleness_watched": check_staleness_watched,
    "numerically_stable": check_numerically_stable, "latency": check_latency,
    "quality_regression": check_quality_regression,
}


# ---- scoring ---------------------------------------------------------------------------------------

def score_test(test: Mapping[str, Any], ev: Evidence) -> dict[str, Any]:
    """One test's entry: automated from evidence, else manual from the practice answer, else missing."""
    points = rubric()["points"]
    verdict = CHECKS[test["check"]](ev) if test.get("check") else None
    entry = {"id": test["id"], "section": test["section"], "title": test["title"]}
    if verdict is not None and verdict.verified:
        return entry | {"status": "automated", "points": points["automated"], "evidence": test.get("evidence"),
                        "why": verdict.why, "outcome": verdict.outcome}
    practice = test.get("manual")
    if practice and ev.practices.get(practice) is True:
        return entry | {"status": "manual", "points": points["manual"], "evidence": None,
                        "why": f"done by hand (readiness.practices.{practice})"
                               + (f"; the kit could not verify it: {verdict.why}" if verdict else ""),
                        "outcome": None}
    reasons = [verdict.why] if verdict else []
    if practice:
        answer = ev.practices.get(practice)
        reasons.append(f"readiness.practices.{practice} is {'false' if answer is False else 'not answered'}")
    return entry | {"status": "missing", "points": points["missing"], "evidence": None,
                    "why": "; ".join(reasons), "outcome": None}


def band(final: float) -> dict[str, Any]:
    """The interpretation band of a final score (and the process-pillar cap it implies)."""
    found = rubric()["bands"][0]
    for row in rubric()["bands"]:
        if row["above"] is None or final > row["above"]:
            found = row
    return dict(found)


def section_scores(tests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per section: the sum of its tests' points and the maximum (one point per test)."""
    out: dict[str, dict[str, Any]] = {}
    for section in rubric()["sections"]:
        mine = [t for t in tests if t["section"] == section["id"]]
        out[section["id"]] = {"name": section["name"], "points": float(sum(t["points"] for t in mine)),
                              "max": len(mine),
                              "automated": sum(t["status"] == "automated" for t in mine),
                              "manual": sum(t["status"] == "manual" for t in mine)}
    return out


def totals(tests: list[dict[str, Any]]) -> dict[str, Any]:
    """Sections, final score (the lowest section), weakest sections and band of a list of scored tests."""
    sections = section_scores(tests)
    final = min(s["points"] for s in sections.values())
    meaning = band(final)
    return {"final": final, "weakest": [k for k, s in sections.items() if s["points"] == final],
            "band": {"meaning": meaning["meaning"], "process_cap": meaning["process_cap"], "status": meaning["status"]},
            "sections": sections}


def score(ev: Evidence) -> dict[str, Any]:
    """The ML Test Score document of a run (see the module docstring), without the readiness gap."""
    content = rubric()
    tests = [score_test(t, ev) for t in content["tests"]]
    return {"format": content["format"], "rubric": content["rubric"], **totals(tests), "tests": tests,
            "readiness_gap": []}


# ---- re-checking after a sign-off ------------------------------------------------------------------

# The checks that read the promotion decision (explain.json's promotion block), which a sign-off rewrites;
# no other check reads anything a sign-off changes (tests/test_signoff_score.py holds every check to that).
PROMOTION_CHECKS = ("gates_before_serving",)


def promotion_tests() -> list[str]:
    """Ids of the tests whose check reads the promotion decision."""
    return [t["id"] for t in rubric()["tests"] if t.get("check") in PROMOTION_CHECKS]


def recheck(doc: Mapping[str, Any], ev: Evidence, after: Mapping[str, Any]) -> dict[str, Any]:
    """The score document with the promotion tests scored again on ``ev`` and the totals re-derived.

    ``after`` says what prompted it (e.g. a sign-off: by, at) and is appended to ``rechecked``. A test
    whose status would change makes the readiness re-derivation stale, so it is refused (ArtifactError).
    """
    content = {t["id"]: t for t in rubric()["tests"]}
    ids = set(promotion_tests())
    tests = [score_test(content[t["id"]], ev) if t.get("id") in ids else dict(t) for t in doc["tests"]]
    before = {t["id"]: t for t in doc["tests"] if t.get("id") in ids}
    moved = [t["id"] for t in tests if t.get("id") in before and t.get("status") != before[t["id"]].get("status")]
    if moved:
        raise ArtifactError(f"{FILE_NAME}: re-checking {', '.join(moved)} changes its status "
                            f"({', '.join(str(before[i].get('status')) for i in moved)} -> "
                            f"{', '.join(t['status'] for t in tests if t.get('id') in moved)}), so the readiness gap "
                            "would be stale; re-run the chain (python -m kit run CONFIG --out REPORT_DIR --force)")
    changed = [t["id"] for t in tests if t.get("id") in before and t != before[t["id"]]]
    earlier = doc.get("rechecked") if isinstance(doc.get("rechecked"), list) else []
    entry = {**after, "tests": sorted(ids), "changed": changed}
    return {**doc, **totals(tests), "tests": tests, "rechecked": [*earlier, entry]}


# ---- readiness: the gap between the self-assessment and the evidence ----------------------------

def _claim(rule: Mapping[str, Any], section: Any) -> bool | None:
    """What the readiness config claims for a gap rule's item (None when it says nothing)."""
    given = getattr(section, rule["kind"]).get(rule["item"])
    if given is None:
        return None
    if rule["kind"] == "answers":
        return given >= rule["claim_from"]
    if rule["kind"] == "red_flags":
        return not given
    return bool(given)


def _declared_text(rule: Mapping[str, Any], section: Any) -> str:
    """The config's answer for a gap rule's item, as written (e.g. 'false', '2')."""
    return str(getattr(section, rule["kind"])[rule["item"]]).lower()


def readiness_gap(doc: Mapping[str, Any], section: Any, reassessed: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Where the readiness self-assessment and this run's evidence disagree, each with a note."""
    status = {t["id"]: t["status"] for t in doc["tests"]}
    gaps = []
    for rule in rubric()["readiness_gap"]:
        claim = _claim(rule, section)
        if claim is None:
            continue
        shown = all(status[t] == "automated" for t in rule["tests"])
        if claim == shown:
            continue
        tests = ", ".join(rule["tests"])
        gaps.append({"item": f"readiness.{rule['kind']}.{rule['item']}", "declared": _declared_text(rule, section),
                     "evidence": f"{tests}: " + ", ".join(status[t] for t in rule["tests"]),
                     "note": ("claimed, but this run does not show it" if claim else
                              "shown by this run, not claimed: the kit does it for this pilot; "
                              "adopt it for the models in production")})
    if reassessed:
        gaps += _pillar_gaps(reassessed)
    return gaps


def _pillar_gaps(reassessed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The process pillar and the level when this run's score lowers them below the self-assessment."""
    gaps = []
    process = reassessed["process"]
    if process["declared"] is not None and process["with_evidence"] < process["declared"]:
        gaps.append({"pillar": "process", "declared": process["declared"], "evidence": process["with_evidence"],
                     "note": f"the answers give {process['declared']:g}; the ML Test Score "
                             f"{reassessed['final']:g} caps process maturity at {process['cap']:g}"})
    level = reassessed["level"]
    if level["declared"] is not None and level["with_evidence"] < level["declared"]:
        gaps.append({"item": "declared_level", "declared": level["declared"], "evidence": level["with_evidence"],
                     "note": f"declared level {level['declared']}; the kit estimates level {level['estimated']} "
                             f"from the readiness evidence and level {level['with_evidence']} with this run's "
                             f"ML Test Score"})
    return gaps


def reassess(doc: Mapping[str, Any], section: Any) -> dict[str, Any]:
    """The process pillar and the maturity level re-derived from the readiness config with this score."""
    from kit.readiness.assess import assess

    before = assess(section)
    after = assess(section, score=doc)
    return {"final": doc["final"],
            "process": {"declared": before.pillars.get("process"), "cap": doc["band"]["process_cap"],
                        "with_evidence": after.pillars.get("process")},
            "level": {"declared": section.declared_level, "estimated": before.level, "with_evidence": after.level}}


# ---- I/O ---------------------------------------------------------------------------------------------

def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file as a dict; None when absent or unreadable (the score then says the evidence is missing)."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_earlier(path: Path | None) -> dict[str, Any] | None:
    """An earlier run's manifest, training artifact and score, or the problem that prevents comparing."""
    if path is None:
        return None
    if not (path / "manifest.json").is_file():
        return {"path": str(path), "problem": f"readiness.earlier_run {path} holds no kit report yet "
                                              "(a first run?): nothing to compare with"}
    return {"path": str(path), "manifest": _read_json(path / "manifest.json"),
            "training": _read_json(path / "artifacts" / "training.json"), "score": _read_json(path / FILE_NAME)}


def folder_evidence(run_dir: Path, manifest: Mapping[str, Any] | None) -> Evidence:
    """What a run folder shows by itself: its artifacts, manifest and files present (no config, no earlier run)."""
    run_dir = Path(run_dir)
    artifacts = {name: _read_json(run_dir / "artifacts" / f"{name}.json") for name in ARTIFACTS}
    explain = artifacts.get("explain") or {}
    candidates = ["artifacts/contract.json", (explain.get("reason_codes") or {}).get("path")]
    files = frozenset(c for c in candidates if c and (run_dir / c).is_file())
    return Evidence(artifacts=artifacts, manifest=manifest, files=files)


def collect_evidence(run_dir: Path, manifest: Mapping[str, Any] | None, config: Any) -> Evidence:
    """Read what a run folder shows (artifacts, files present) and the earlier run the config names."""
    section = config.readiness
    return replace(folder_evidence(run_dir, manifest), practices=dict(section.practices),
                   earlier=read_earlier(section.earlier_run))


def score_run(run_dir: Path, manifest: Mapping[str, Any] | None, config: Any) -> dict[str, Any]:
    """The full score document of a run folder: tests, sections, final, readiness re-derived and gap."""
    doc = score(collect_evidence(run_dir, manifest, config))
    doc["readiness"] = reassess(doc, config.readiness)
    doc["readiness_gap"] = readiness_gap(doc, config.readiness, doc["readiness"])
    return doc


def write_score(run_dir: Path, manifest: Mapping[str, Any] | None, config: Any) -> Path:
    """Score a run folder and write ``ml_test_score.json`` at its top."""
    from kit.artifacts import write_json

    return write_json(Path(run_dir) / FILE_NAME, score_run(run_dir, manifest, config))


def recorded_score(run_dir: Path) -> dict[str, Any] | None:
    """A run's ml_test_score.json, None when it has none; an unreadable one is an ArtifactError naming the fix."""
    path = Path(run_dir) / FILE_NAME
    if not path.exists():
        return None
    doc = _read_json(path)
    promotion = set(promotion_tests())
    if doc is None or not isinstance(doc.get("tests"), list) or not all(isinstance(t, dict) for t in doc["tests"]):
        raise ArtifactError(f"{path}: unreadable or not an ML Test Score; re-run the chain "
                            "(python -m kit run CONFIG --out REPORT_DIR --force) to score the run again")
    missing = promotion - {t.get("id") for t in doc["tests"]}
    if missing:
        raise ArtifactError(f"{path}: has no entry for {', '.join(sorted(missing))}; re-run the chain "
                            "(python -m kit run CONFIG --out REPORT_DIR --force) to score the run again")
    return doc


def recheck_run(run_dir: Path, after: Mapping[str, Any], write: bool = True) -> dict[str, Any] | None:
    """Re-check the promotion tests of a run's ml_test_score.json from its artifacts and rewrite it (atomically).

    None when the run has no score (a phase run on its own); the re-checked document otherwise. With
    ``write`` False nothing is written: a dry run that raises what the real one would.
    """
    from kit.artifacts import write_json

    run_dir = Path(run_dir)
    doc = recorded_score(run_dir)
    if doc is None:
        return None
    updated = recheck(doc, folder_evidence(run_dir, _read_json(run_dir / "manifest.json")), after)
    if write:
        write_json(run_dir / FILE_NAME, updated)
    return updated


def earlier_score(config: Any) -> dict[str, Any] | None:
    """The ML Test Score of the earlier run the readiness config names, with where it came from (or None)."""
    earlier = read_earlier(config.readiness.earlier_run)
    if not earlier or not earlier.get("score"):
        return None
    return {**earlier["score"], "source": earlier["path"]}
