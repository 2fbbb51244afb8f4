"""One run's figures for the roll-up, taken from its manifest, artifacts and ML Test Score (pure)."""
from __future__ import annotations

from typing import Any

from kit import __version__

PILLARS = ("data", "infrastructure", "process", "organization")


def dig(data: Any, *keys: str | int) -> Any:
    """``data[k1][k2]...``, or None as soon as a level is missing or of another type."""
    for key in keys:
        if isinstance(key, int) and isinstance(data, list) and -len(data) <= key < len(data):
            data = data[key]
        elif isinstance(data, dict) and not isinstance(key, int):
            data = data.get(key)
        else:
            return None
    return data


def _number(value: Any) -> float | None:
    """A JSON number as float; anything else (None, text, bool) as None."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def failed_reason(manifest: dict[str, Any]) -> str | None:
    """'phase: error' of the phase that failed, the run's own status when it did not finish, else None."""
    phases = manifest.get("phases") if isinstance(manifest.get("phases"), list) else []
    failed = next((p for p in phases if isinstance(p, dict) and p.get("status") == "failed"), None)
    if failed:
        return f"{failed.get('name', '?')}: {failed.get('error') or 'failed (no reason recorded)'}"
    status = manifest.get("status")
    if status == "running":
        return "half-written run: its manifest still says running (interrupted, or in progress)"
    return None if status == "ok" else f"run status {status!r}"


def identity(manifest: dict[str, Any], folder_name: str) -> tuple[dict[str, Any], list[str]]:
    """Run name, organization, business unit and date of a run, with a note for each one guessed."""
    notes = []
    run = manifest.get("run_name") or folder_name
    unit = manifest.get("business_unit")
    if not unit:
        unit = run
        notes.append("no business unit recorded (organization.business_unit, or a run from an older kit): "
                     "the run name stands for the unit")
    as_of = manifest.get("as_of") or str(manifest.get("started") or "")[:10] or None
    if not manifest.get("as_of"):
        notes.append(f"no run date recorded (an older kit): dated by its start ({as_of or 'unknown'})")
    version = manifest.get("kit_version")
    if version != __version__:
        notes.append(f"made by kit {version or 'of unknown version'} (this is {__version__}): figures it did not "
                     "record are shown as —")
    return {"run": str(run), "organization": manifest.get("organization"), "unit": str(unit),
            "as_of": as_of, "started": manifest.get("started"), "kit_version": version}, notes


def qualify_units(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Prefix each unit with its organization when the runs come from several (two 'Consumer' units stay apart)."""
    organizations = {s.get("organization") for s in summaries}
    if len(organizations) < 2:
        return summaries
    return [{**s, "unit": f"{s.get('organization') or 'unknown organization'} / {s['unit']}"} for s in summaries]


def readiness(artifact: dict[str, Any] | None) -> dict[str, Any]:
    """Pillar scores, estimated and declared maturity, and blockers from the readiness artifact."""
    pillars = {p: _number(dig(artifact, "pillars", p)) for p in PILLARS}
    blockers = [b for b in (dig(artifact, "blockers") or []) if isinstance(b, dict)]
    return {
        "pillars": pillars,
        "maturity_level": _number(dig(artifact, "maturity_level")),
        "maturity_name": dig(artifact, "maturity_name"),
        "declared_level": _number(dig(artifact, "declared_level")),
        "maturity_status": dig(artifact, "maturity", "status"),
        "blockers": [{"pillar": b.get("pillar"), "name": b.get("name") or b.get("pillar"),
                      "score": _number(b.get("score")), "fix": b.get("fix")} for b in blockers],
    }


def portfolio(artifact: dict[str, Any] | None) -> dict[str, Any]:
    """The ranked use cases (value and feasibility scores) and the chosen pilot from the use-case artifact."""
    rows = [r for r in (dig(artifact, "ranking") or []) if isinstance(r, dict) and r.get("name") is not None]
    return {
        "pilot": dig(artifact, "pilot", "name"),
        "use_cases": [{"name": str(r["name"]), "business_unit": r.get("business_unit"),
                       "value": _number(r.get("value_score")), "feasibility": _number(r.get("feasibility_score")),
                       "quadrant": r.get("quadrant"), "rank": _number(r.get("rank")),
                       "npv_3y": _number(r.get("npv_3y"))} for r in rows],
    }


def model(training: dict[str, Any] | None, explain: dict[str, Any] | None) -> dict[str, Any] | None:
    """The run's model: registry status after the last decision, gates, fairness and test metric."""
    champ = dig(training, "champion")
    if not isinstance(champ, dict):
        return None
    promotion = dig(explain, "promotion") or dig(training, "promotion") or {}
    gates = promotion.get("gates") if isinstance(promotion.get("gates"), dict) else dig(training, "gates") or {}
    passed = {str(k): bool(dig(v, "passed")) for k, v in gates.items()}
    metric = dig(training, "selection_metric") or "roc_auc"
    return {
        "name": champ.get("model_name"), "version": champ.get("version"), "algorithm": champ.get("algorithm"),
        "status": promotion.get("status") or champ.get("status"),
        "decided_by": "phase 3" if dig(explain, "promotion") else "phase 2 only (phase 3 did not run)",
        "gates_passed": sum(passed.values()), "gates_total": len(passed),
        "failed_gates": sorted(k for k, ok in passed.items() if not ok),
        "accepted_gates": list(promotion.get("accepted_gates") or []),
        "fairness": dig(explain, "fairness_gate"),
        "metric": metric, "metric_value": _number(dig(champ, "metrics", metric, "value")),
    }


def ml_test(score: dict[str, Any] | None) -> dict[str, Any] | None:
    """Final ML Test Score, its sections and how many tests are automated, manual or missing."""
    if not isinstance(score, dict) or _number(score.get("final")) is None:
        return None
    tests = [t for t in (score.get("tests") or []) if isinstance(t, dict)]
    sections = {str(k): {"points": _number(dig(v, "points")), "max": _number(dig(v, "max"))}
                for k, v in (score.get("sections") or {}).items()}
    counts = {s: sum(t.get("status") == s for t in tests) for s in ("automated", "manual", "missing")}
    return {"final": _number(score.get("final")), "sections": sections, "tests": len(tests), **counts}


def _gap_text(value: Any) -> str | None:
    """A declared or evidenced value of a gap item as text ('false', '3', '3.4'); None when absent or not a scalar."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"{value:g}"
    return value if isinstance(value, str) else None


def _gap_item(entry: dict[str, Any]) -> dict[str, Any]:
    """One disagreement: the pillar or config item, what the self-assessment declared and what the evidence shows."""
    kind = "pillar" if entry.get("pillar") is not None else "item"
    return {"item": _gap_text(entry.get(kind)) or "?", "kind": kind, "declared": _gap_text(entry.get("declared")),
            "evidence": _gap_text(entry.get("evidence")), "note": _gap_text(entry.get("note"))}


def readiness_gap(score: dict[str, Any] | None) -> dict[str, Any]:
    """Where the run's readiness self-assessment and its evidence disagree (ml_test_score.json), or why not recorded."""
    gaps = score.get("readiness_gap") if isinstance(score, dict) else None
    if not isinstance(gaps, list):
        why = ("no ML Test Score (ml_test_score.json) in this run" if not isinstance(score, dict) else
               "ml_test_score.json from a kit that did not compare the self-assessment with the evidence"
               if "readiness_gap" not in score else "readiness_gap in ml_test_score.json is not a list (damaged)")
        return {"recorded": False, "count": None, "why_not": why, "items": [], "ignored": 0}
    items = [_gap_item(g) for g in gaps if isinstance(g, dict)]
    return {"recorded": True, "count": len(items), "why_not": None, "items": items, "ignored": len(gaps) - len(items)}


def monitoring(artifact: dict[str, Any] | None, health_names: dict[str, str]) -> dict[str, Any] | None:
    """Latest monitoring health: headline status, alerts (critical), watched model and whether batches were synthetic."""
    if not isinstance(artifact, dict):
        return None
    alerts = [a for a in (artifact.get("alerts") or []) if isinstance(a, dict)]
    batches = [b for b in (artifact.get("batches") or []) if isinstance(b, dict)]
    status = artifact.get("headline_status")
    return {
        "status": status, "health": health_names.get(status or "", "unknown"),
        "alerts": len(alerts), "critical": sum(a.get("severity") == "critical" for a in alerts),
        "last_batch": batches[-1].get("batch") if batches else None,
        "watched": dig(artifact, "watched", "role"),
        "synthetic": bool(artifact.get("synthetic")), "scenario": dig(artifact, "source", "scenario"),
        "decision": dig(artifact, "headline", "Decision"),
    }


def summarize(manifest: dict[str, Any], artifacts: dict[str, Any], score: dict[str, Any] | None,
              folder_name: str, health_names: dict[str, str]) -> dict[str, Any]:
    """Every figure the roll-up shows for one run, with notes on what was missing or guessed."""
    ident, notes = identity(manifest, folder_name)
    phases = {str(p.get("name")): p.get("status") for p in manifest.get("phases") or [] if isinstance(p, dict)}
    summary = {
        **ident, "status": manifest.get("status"), "error": failed_reason(manifest), "phases": phases,
        "readiness": readiness(artifacts.get("readiness")) if artifacts.get("readiness") else None,
        "portfolio": portfolio(artifacts.get("use_cases")) if artifacts.get("use_cases") else None,
        "model": model(artifacts.get("training"), artifacts.get("explain")),
        "ml_test": ml_test(score),
        "readiness_gap": readiness_gap(score),
        "monitoring": monitoring(artifacts.get("monitoring"), health_names),
    }
    if phases.get("readiness") == "ok" and summary["readiness"] is None:
        notes.append("readiness phase ok but artifacts/readiness.json missing (half-copied run?)")
    if summary["model"] is not None and summary["ml_test"] is None:
        notes.append("no ML Test Score (ml_test_score.json) in this run")
    if summary["readiness_gap"]["ignored"]:
        notes.append(f"ml_test_score.json: {summary['readiness_gap']['ignored']} readiness_gap entries of an "
                     "unexpected shape ignored")
    return {**summary, "notes": notes}
