"""The one promotion decision, after all the evidence: candidate, awaiting sign-off, or champion.

Phase 2 (training) registers a *candidate* version with its training gates. Phase 3
(explainability) adds the tier's required evidence and the fairness gate and calls
:func:`decide`; the ``champion`` alias moves only when every gate passed and, where the stakes
need it, a person signed off **after** those results, on that version, naming the evidence
seen (:func:`evidence_digest`). A sign-off whose evidence no longer matches is not valid.

Pure decisions first (:func:`evidence_gates`, :func:`decide`), then registry and artifact I/O
(:func:`apply_promotion`, :func:`give_signoff`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import json
from pathlib import Path
from typing import Any

import pandas as pd

from kit import content
from kit.artifacts import read_artifact, to_jsonable, write_artifact
from kit.errors import ArtifactError, KitError
from kit.ml_test_score import recheck_run

Gate = dict[str, Any]

CHAMPION, AWAITING, CANDIDATE = "champion", "awaiting sign-off", "candidate"
PENDING_PHASE3 = "candidate: awaiting explainability evidence (phase 3)"
SIGNOFF = "human sign-off"
VOLATILE = ("promotion", "headline", "headline_status")  # explain.json keys that are not evidence
CLOCK_KEYS = re.compile(r"(seconds|created|_at$|_utc$|timestamp)", re.I)  # same evidence, another run or machine
SIGNOFF_COMMAND = 'python -m kit signoff REPORT_DIR --by "name, role" --why "what was reviewed"'


class PromotionError(KitError):
    """A promotion or sign-off that the evidence does not allow."""


def rules() -> dict[str, Any]:
    """Promotion rules from kit/content/governance.yaml."""
    return content.load("governance")["promotion"]


def remedies() -> dict[str, str]:
    """What a user can do per failed gate (training.yaml and governance.yaml)."""
    return {**content.load("training")["gate_remedies"], **rules()["gate_remedies"]}


# ---- pure decisions -------------------------------------------------------------------------
def illustrative_pilot(config: Any, use_cases: dict[str, Any] | None) -> bool:
    """True when the pilot comes from the bundled demo portfolio (the config names none) and the data is the user's."""
    if not use_cases or getattr(config, "dataset", None) is None:
        return False
    if use_cases.get("portfolio_bundled") or use_cases.get("illustrative"):
        return True
    section = getattr(config, "use_cases", None)
    return section is not None and section.portfolio is None and section.portfolio_path is None


NOT_ASSESSED = "not assessed"
NOT_ASSESSED_WHY = "no sensitive columns named; set dataset.sensitive to the columns to check"


def fairness_text(status: str) -> str:
    """The fairness gate's result as every report states it: 'not assessed' always says why and what to set."""
    return f"{NOT_ASSESSED} ({NOT_ASSESSED_WHY})" if status == NOT_ASSESSED else status


def tier_promotion_gate(tier_gate: dict[str, Any]) -> Gate:
    """The tier's required evidence is all in the report."""
    missing = tier_gate.get("missing") or []
    if tier_gate.get("status") == "passed":
        return {"passed": True, "reason": f"{tier_gate['tier']} tier: every required output is in the report"}
    why = f" (fairness {fairness_text(NOT_ASSESSED)})" if "fairness_assessment" in missing else ""
    return {"passed": False, "reason": f"{tier_gate['tier']} tier: missing {', '.join(missing)}{why}"}


def fairness_promotion_gate(status: str, tier: str) -> Gate:
    """The fairness gate result is one the tier may be promoted with (content: fairness_passes); ``state`` is that
    result, so a gate that blocks without a failed assessment is never called 'failed'."""
    allowed = rules()["fairness_passes"][tier]
    ok = status in allowed
    return {"passed": ok, "state": status,
            "reason": f"fairness gate {fairness_text(status)}; the {tier} tier promotes only on {' or '.join(allowed)}"}


def evidence_gates(training_gates: dict[str, Gate], tier_gate: dict[str, Any], fairness_status: str) -> dict[str, Gate]:
    """Every gate but the sign-off: training's gates, the tier evidence and the fairness gate."""
    gates = {name: dict(g) for name, g in training_gates.items() if name != SIGNOFF}
    gates["tier evidence"] = tier_promotion_gate(tier_gate)
    gates["fairness"] = fairness_promotion_gate(fairness_status, tier_gate["tier"])
    return gates


def metric_evidence(training: dict[str, Any]) -> dict[str, Any] | None:
    """The candidate's test figure on its task's headline metric (the one its gates compared), with its interval."""
    task = training.get("task") or {}
    metric = task.get("metric")
    if not metric:
        return None
    from kit.tasks import higher_is_better

    raw = ((training.get("champion") or {}).get("metrics") or {}).get(metric)
    figure = raw if isinstance(raw, dict) else {"value": raw}
    return {"task": task.get("task"), "metric": metric, "value": figure.get("value"), "low": figure.get("low"),
            "high": figure.get("high"), "higher_is_better": higher_is_better(metric)}


def metric_text(evidence: dict[str, Any] | None) -> str:
    """'rmse 11.37 [10.9, 11.8] on the test rows (lower is better)', or '' without evidence."""
    if not evidence or evidence.get("value") is None:
        return ""
    interval = f" [{evidence['low']:.4g}, {evidence['high']:.4g}]" if evidence.get("low") is not None else ""
    way = "higher" if evidence["higher_is_better"] else "lower"
    return f"{evidence['metric']} {evidence['value']:.4g}{interval} on the test rows ({evidence['task']}; {way} is better)"


def _plain(obj: Any) -> Any:
    """Plain JSON values, exactly as they read back from an artifact file."""
    return json.loads(json.dumps(to_jsonable(obj), allow_nan=False))


def _without_clocks(value: Any) -> Any:
    """``value`` without the keys that measure this machine or this moment (timings, timestamps), at any depth."""
    if isinstance(value, dict):
        return {k: _without_clocks(v) for k, v in value.items() if not CLOCK_KEYS.search(str(k))}
    if isinstance(value, list):
        return [_without_clocks(v) for v in value]
    return value


def evidence_digest(explain: dict[str, Any], gates: dict[str, Gate]) -> str:
    """sha256 of the explain artifact's evidence (all but promotion/headline, timings and clocks) and the gate results."""
    body = _without_clocks({k: v for k, v in _plain(explain).items() if k not in VOLATILE})
    passed = {name: bool(g["passed"]) and not g.get("accepted") for name, g in gates.items() if name != SIGNOFF}
    payload = json.dumps({"explain": body, "gates": passed}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def acceptable_gates(tier: str) -> list[str]:
    """Gates a sign-off may accept, failed, with a recorded justification at this tier (content)."""
    return list(rules()["acceptable_with_justification"].get(tier) or [])


def accepted_names(signoff: dict[str, Any] | None) -> list[str]:
    """Gates a sign-off accepted (stored as a comma-separated tag or a list)."""
    raw = (signoff or {}).get("accepted") or []
    return [n.strip() for n in raw.split(",") if n.strip()] if isinstance(raw, str) else list(raw)


def signoff_gate(required: bool, signoff: dict[str, Any] | None, version: str | None, digest: str | None) -> Gate:
    """A sign-off is valid only for this version and the evidence it names."""
    if not signoff:
        if not required:
            return {"passed": True, "reason": "sign-off not required for these stakes"}
        return {"passed": False, "reason": f"required at these stakes and none recorded; after reading the report: {SIGNOFF_COMMAND}"}
    if str(signoff.get("version")) != str(version):
        return {"passed": not required, "valid": False,
                "reason": f"the sign-off recorded is for version {signoff.get('version')}, not {version}; sign off again"}
    if digest is None or signoff.get("evidence") != digest:
        return {"passed": not required, "valid": False,
                "reason": f"signed off by {signoff.get('by')} on other evidence (sha256 {str(signoff.get('evidence'))[:12]}…); "
                          "the evidence changed since: sign off again"}
    return {"passed": True, "valid": True, "reason": f"approved by {signoff.get('by')} at {signoff.get('at')}: "
                                                     f"{signoff.get('why')} (evidence sha256 {digest[:12]}…)"}


def decide(gates: dict[str, Gate], version: str | None, signoff_required: bool, signoff: dict[str, Any] | None = None,
           digest: str | None = None, acceptable: list[str] | tuple[str, ...] = (),
           metric: dict[str, Any] | None = None) -> dict[str, Any]:
    """The promotion decision: champion only when every gate passed (or was accepted, where the tier allows,
    by a valid sign-off with its justification) and a required sign-off is valid for this version and evidence.

    ``metric`` (:func:`metric_evidence`) is the task's headline figure the gates compared; it is recorded
    with the decision and named in a champion's reason."""
    sign = signoff_gate(signoff_required, signoff, version, digest)
    accepted = [n for n, g in gates.items() if not g["passed"] and sign.get("valid") and n in accepted_names(signoff)
                and n in acceptable]
    gates = {n: ({**g, "passed": True, "accepted": True,
                  "reason": f"{g['reason']}; ACCEPTED by {signoff.get('by')} with the justification: {signoff.get('why')}"}
                 if n in accepted else g) for n, g in gates.items()}
    everything = {**gates, SIGNOFF: sign}
    failed = [name for name, g in gates.items() if not g["passed"]]
    if version is None:
        status, reasons = CANDIDATE, ["not registered (training.track: false): nothing to promote"]
    elif failed:
        status, reasons = CANDIDATE, [f"{name}: {gates[name]['reason']}" for name in failed]
        if set(failed) <= set(acceptable):
            reasons.append(f"at this tier an accountable person may accept {', '.join(failed)} with a recorded justification: "
                           f"{SIGNOFF_COMMAND} --accept {','.join(failed)}")
    elif not sign["passed"]:
        status, reasons = AWAITING, [f"{SIGNOFF}: {sign['reason']}"]
    else:
        status, reasons = CHAMPION, ["every gate passed" + (f" ({', '.join(accepted)} accepted with a recorded justification)"
                                                             if accepted else "") + (f"; {sign['reason']}" if sign.get("valid") else "")]
        if metric_text(metric):
            reasons.append(f"evidence: {metric_text(metric)}")
    return {
        "status": status, "version": version, "reasons": reasons, "gates": everything,
        "failed_gates": [n for n, g in everything.items() if not g["passed"]], "accepted_gates": accepted,
        "acceptable_with_justification": list(acceptable),
        "signoff_required": signoff_required, "signoff": signoff, "evidence_sha256": digest,
        **({"metric": metric} if metric else {}),
    }


def status_line(decision: dict[str, Any]) -> str:
    """One short line for headlines: the status, the version and, unless champion, what blocks it."""
    version = decision.get("version")
    if version is None:
        return "candidate: not registered (training.track: false)"
    if decision["status"] == CHAMPION:
        accepted = decision.get("accepted_gates") or []
        return f"champion (v{version})" + (f"; {', '.join(accepted)} accepted with a recorded justification" if accepted else "")
    if decision["status"] == AWAITING:
        return f"awaiting sign-off (v{version}): {SIGNOFF_COMMAND}"
    failed = [n for n in decision["failed_gates"] if n != SIGNOFF]
    acceptable = [n for n in failed if n in (decision.get("acceptable_with_justification") or [])]
    hint = f"; at these stakes {', '.join(acceptable)} may be accepted at sign-off with a recorded justification" if acceptable == failed else ""
    return f"candidate (v{version}): {blocking_text(failed, decision.get('gates') or {})}{hint}"


def gate_word(gate: Gate) -> str:
    """'passed', or the blocking gate's own state ('failed', 'not assessed', 'insufficient evidence')."""
    return "passed" if gate["passed"] else gate.get("state", "failed")


def blocking_text(failed: list[str], gates: dict[str, Gate]) -> str:
    """'beats baseline failed, tier evidence failed; fairness not assessed (why)': each blocking gate followed by its
    own state (default 'failed'), so no gate name reads as a passed claim."""
    states = {n: (gates.get(n) or {}).get("state", "failed") for n in failed}
    truly = [n for n in failed if states[n] == "failed"]
    parts = [", ".join(f"{n} failed" for n in truly)] if truly else []
    return "; ".join(parts + [f"{n} {fairness_text(states[n]) if n == 'fairness' else states[n]}" for n in failed if n not in truly])


def gate_table(gates: dict[str, Gate]) -> pd.DataFrame:
    """Gates as a table with what the user can do beside each failed one."""
    fixes = remedies()
    rows = [{"gate": n, "passed": g["passed"], "reason": g["reason"], "what you can do": "" if g["passed"] else fixes.get(n, "")}
            for n, g in gates.items()]
    return pd.DataFrame(rows).set_index("gate")


# ---- registry and artifact I/O --------------------------------------------------------------
def _registry(uri: str | None) -> Any:
    """The MLflow registry behind ``uri``."""
    from kit.training.registry import Registry

    return Registry(uri)


def apply_decision(decision: dict[str, Any], model_name: str, tracking_uri: str | None, why: str) -> None:
    """Tag the version with the outcome and its gates; move the ``champion`` alias only for a champion."""
    version = decision["version"]
    if version is None:
        return
    reg = _registry(tracking_uri)
    for name, gate in decision["gates"].items():
        reg.set_version_tag(model_name, version, f"promotion.{name}", gate_word(gate))
    reg.set_version_tag(model_name, version, "status", decision["status"])
    reg.set_version_tag(model_name, version, "status_reason", "; ".join(decision["reasons"])[:4000])
    if decision["status"] == CHAMPION and reg.champion_version(model_name) != str(version):
        reg.set_champion(model_name, version, why)


def _now() -> str:
    """Current UTC time as ISO 8601 text."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def write_outcome(run_dir: str | Path, decision: dict[str, Any], index: bool = True) -> None:
    """Write the final status into explain.json (promotion block), training.json, the model card and (unless
    ``index`` is False, for a caller that refreshes it itself) index.html."""
    block = {**_plain(decision), "decided_time_utc": _now()}
    training = read_artifact(run_dir, "training")
    champ = training["champion"]
    champ["status"], champ["failed_gates"] = decision["status"], decision["failed_gates"]
    training["promotion"] = block
    training["headline"]["Model"] = f"{champ['algorithm']} v{champ.get('version') or '-'} ({decision['status']})"
    training["headline"]["Promotion"] = status_line(decision)
    if training.get("headline_status") != "fail":
        training["headline_status"] = "ok" if decision["status"] == CHAMPION else "warn"
    explain = read_artifact(run_dir, "explain")
    explain["promotion"] = block
    explain["headline"]["Promotion"] = status_line(decision)
    write_artifact(run_dir, "training", training)
    write_artifact(run_dir, "explain", explain)
    _update_card(Path(run_dir), explain, decision)
    _note_monitoring(Path(run_dir), champ, decision)
    if index:
        _refresh_index(Path(run_dir))


def _note_monitoring(run_dir: Path, champ: dict[str, Any], decision: dict[str, Any]) -> None:
    """Say on the monitoring headline that phase 4 watched this version as a candidate, before it became champion."""
    monitoring = read_artifact(run_dir, "monitoring", required=False)
    watched = (monitoring or {}).get("watched") or {}
    if (decision["status"] != CHAMPION or watched.get("role") != "candidate"
            or (watched.get("name"), str(watched.get("version"))) != (champ.get("model_name"), str(decision["version"]))):
        return
    monitoring["headline"]["Watched model"] = (
        f"{watched['name']} v{watched['version']}: watched as a CANDIDATE before its promotion to champion; "
        "run the chain again (python -m kit run CONFIG), or the monitoring notebook on this folder, to monitor the champion")
    write_artifact(run_dir, "monitoring", monitoring)


def _update_card(run_dir: Path, explain: dict[str, Any], decision: dict[str, Any]) -> None:
    """Rewrite the model card (Markdown, HTML, JSON) with the final status and gates."""
    from kit.explain import card as card_mod

    rel = (explain.get("model_card") or {}).get("json")
    if not rel or not (run_dir / rel).is_file():
        return
    facts = json.loads((run_dir / rel).read_text(encoding="utf-8"))
    facts["model_details"]["registry_status"] = decision["status"]
    facts["risk"]["promotion"] = status_line(decision)
    facts["risk"]["gates"] = {n: gate_word(g) for n, g in decision["gates"].items()}
    card_mod.write_card(facts, (run_dir / rel).parent)


def _refresh_index(run_dir: Path) -> None:
    """Re-render index.html from the run's manifest, when the folder is a chained report."""
    manifest = run_dir / "manifest.json"
    if manifest.is_file():
        from kit.report import write_index

        write_index(run_dir, json.loads(manifest.read_text(encoding="utf-8")))


def apply_promotion(ctx: Any, decision: dict[str, Any]) -> dict[str, Any]:
    """After explain.json is written: name its evidence, check any recorded sign-off, tag and (maybe) promote."""
    explain = read_artifact(ctx.run_dir, "explain")
    training = read_artifact(ctx.run_dir, "training")
    champ = training["champion"]
    gates = {n: g for n, g in decision["gates"].items() if n != SIGNOFF}
    digest = evidence_digest(explain, gates)
    signoff = None
    if decision["version"] is not None:
        signoff = _registry(champ.get("tracking_uri")).approval(champ["model_name"], decision["version"])
    final = decide(gates, decision["version"], decision["signoff_required"], signoff, digest,
                   decision.get("acceptable_with_justification", ()), metric_evidence(training))
    apply_decision(final, champ["model_name"], champ.get("tracking_uri"), f"all evidence passed in run {Path(ctx.run_dir).name}")
    write_outcome(ctx.run_dir, final)
    return final


def _original(gate: Gate) -> Gate:
    """A gate as the evidence gave it, before any acceptance."""
    if not gate.get("accepted"):
        return gate
    return {**{k: v for k, v in gate.items() if k != "accepted"}, "passed": False, "reason": gate["reason"].split("; ACCEPTED by ")[0]}


def give_signoff(run_dir: str | Path, who: str, why: str, accept: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Record a sign-off on the evidence of a finished phase 3, then promote if every other gate passed.

    ``accept`` names failed gates the signer accepts with this justification, where the tier allows it.
    """
    run_dir = Path(run_dir)
    if not str(who).strip() or not str(why).strip():
        raise PromotionError('sign-off: give both who signs off and why, e.g. --by "Jane Doe, risk" --why "reviewed the report"')
    training = read_artifact(run_dir, "training")
    explain = read_artifact(run_dir, "explain", required=False) or {}
    block = explain.get("promotion")
    if not block:
        raise ArtifactError(f"{run_dir}: no explainability evidence (phase 3) in this report; run phase 3 "
                            "(python -m kit run CONFIG --out REPORT_DIR, or its notebook) before signing off")
    champ, version = training["champion"], block.get("version")
    if version is None:
        raise ArtifactError(f"{run_dir}: the model was not registered (training.track: false); nothing to sign off")
    gates = {n: _original(g) for n, g in block["gates"].items() if n != SIGNOFF}
    acceptable = block.get("acceptable_with_justification") or []
    failed = [n for n, g in gates.items() if not g["passed"]]
    wrong = [n for n in accept if n not in failed or n not in acceptable]
    if wrong:
        raise PromotionError(f"--accept {', '.join(wrong)}: only failed gates the tier allows to accept can be accepted "
                             f"(failed: {', '.join(failed) or 'none'}; acceptable at this tier: {', '.join(acceptable) or 'none'})")
    blocking = [n for n in failed if n not in accept]
    if blocking:
        fixes = remedies()
        hint = (f" At this tier {', '.join(n for n in blocking if n in acceptable)} may be accepted with --accept."
                if any(n in acceptable for n in blocking) else "")
        raise PromotionError(f"{champ['model_name']} v{version}: cannot sign off while gates fail: "
                             + "; ".join(f"{n} ({gates[n]['reason']}) - {fixes.get(n, 'see the report')}" for n in blocking) + hint)
    digest = evidence_digest(explain, gates)
    if digest != block.get("evidence_sha256"):
        raise PromotionError(f"{run_dir}: explain.json changed after phase 3 decided (evidence sha256 "
                             f"{digest[:12]}… vs {str(block.get('evidence_sha256'))[:12]}…); re-run phase 3, then sign off")
    recheck_run(run_dir, {}, write=False)  # a score that cannot be re-checked stops here, before anything is recorded
    signoff = _registry(champ.get("tracking_uri")).record_signoff(champ["model_name"], version, who, why, digest, gates, list(accept))
    final = decide(gates, version, bool(block.get("signoff_required")), signoff, digest, acceptable, metric_evidence(training))
    apply_decision(final, champ["model_name"], champ.get("tracking_uri"), f"signed off by {who}")
    write_outcome(run_dir, final, index=False)
    recheck_run(run_dir, {"after": "sign-off", "by": signoff.get("by"), "at": signoff.get("at"),
                          "status": final["status"]})
    _refresh_index(run_dir)
    return {"model_name": champ["model_name"], "version": version, "status": final["status"], **signoff}
