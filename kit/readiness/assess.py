"""The readiness assessment: scores, level, team, roadmap and recommendations in one pure call.

``assess`` is pure (config section and profile in, ``Assessment`` out); ``profile_dataset`` is
the only function here that reads a file; ``to_artifact`` turns an assessment into the JSON
artifact the later phases read.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from kit.profile import DataProfile, profile_frame
from kit.readiness import content
from kit.readiness.config import ReadinessSection
from kit.readiness.evidence import data_findings
from kit.readiness.maturity import MaturityEstimate, estimate_level
from kit.readiness.roadmap import budget_split, build_vs_buy, next_transition, roadmap_phase
from kit.readiness.scoring import blockers, flag_table, pillar_scores, scores_map, weakest_pillar
from kit.readiness.team import TeamAssessment, assess_team


@dataclass(frozen=True)
class Assessment:
    """Everything phase 0 concludes about one organization."""

    section: ReadinessSection
    scores: pd.DataFrame
    flags: pd.DataFrame
    blockers: list[dict[str, Any]]
    maturity: MaturityEstimate
    team: TeamAssessment
    phase: dict[str, Any]
    transition: dict[str, Any] | None
    platform: dict[str, Any]
    budget: pd.DataFrame | None
    profile: DataProfile | None
    findings: list[dict[str, Any]]
    unanswered: dict[str, list[str]]
    recommendations: list[dict[str, Any]]
    organization: str | None = None
    ml_test_score: dict[str, Any] | None = None

    @property
    def pillars(self) -> dict[str, float | None]:
        """{pillar_id: score}, None for an unscored pillar."""
        return scores_map(self.scores)

    @property
    def level(self) -> int:
        """The estimated maturity level."""
        return self.maturity.level


def unanswered_items(section: ReadinessSection) -> dict[str, list[str]]:
    """Ids of questions, red flags, prerequisites and capabilities the config leaves open."""
    def open_ids(index: pd.Index, given: dict[str, Any]) -> list[str]:
        """Ids of ``index`` not present in ``given``, in content order."""
        return [str(i) for i in index.difference(list(given), sort=False)]

    return {
        "questions": open_ids(content.questions().index, section.answers),
        "red_flags": open_ids(content.red_flags().index, section.red_flags),
        "prerequisites": open_ids(content.prerequisites().index, section.prerequisites),
        "capabilities": open_ids(content.capabilities().index, section.capabilities),
    }


def rec(kind: str, title: str, detail: str = "", actions: list[str] | None = None) -> dict[str, Any]:
    """One recommendation (priority is set when the list is assembled)."""
    return {"kind": kind, "title": title, "detail": detail, "actions": actions or []}


def blocker_recs(found: list[dict[str, Any]], flags: pd.DataFrame) -> list[dict[str, Any]]:
    """One recommendation per blocker, with the fixes of its raised red flags."""
    raised = flags[flags["raised"].fillna(False).astype(bool)]
    return [rec("blocker", f"Blocker: {b['name']} scores {b['score']:g}, below "
                f"{content.questionnaire()['rules']['blocker_below']:g}", b["fix"],
                raised.loc[raised["pillar"] == b["pillar"], "fix"].tolist())
            for b in found]


def flag_recs(flags: pd.DataFrame, blocked: set[str]) -> list[dict[str, Any]]:
    """Red flags raised in pillars that are not already blockers."""
    raised = flags[flags["raised"].fillna(False).astype(bool) & ~flags["pillar"].isin(blocked)]
    names = content.pillars()["name"]
    return [rec("red flag", f"Red flag in {names[r['pillar']]}: {r['text'].rstrip('.')}", r["fix"])
            for _, r in raised.iterrows()]


def prerequisite_recs(given: dict[str, bool]) -> list[dict[str, Any]]:
    """Prerequisites the organization says are not in place."""
    table = content.prerequisites()
    missing = table[table.index.isin([k for k, v in given.items() if not v])]
    return [rec("prerequisite", f"Prerequisite missing: {r['name']}", r["text"]) for _, r in missing.iterrows()]


def maturity_recs(est: MaturityEstimate, transition: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The overestimation warning and the bottleneck of the next level transition."""
    out = [rec("maturity", "Plan from the evidence, not the self-assessment", est.message)] \
        if est.status == "overestimated" else []
    if transition is not None:
        row = est.coverage.loc[transition["to"]] if transition["to"] in est.coverage.index else None
        caps = content.capabilities()["text"]
        todo = [caps[c] for c in row["missing"]] if row is not None else []
        out.append(rec("next level", f"Level {transition['from']} to {transition['to']}: "
                       f"the bottleneck is {transition['bottleneck'].rstrip('.').lower()}",
                       transition["advice"], todo))
    return out


def team_recs(team: TeamAssessment, level: int) -> list[dict[str, Any]]:
    """Headcount gaps at the current and next level, the ratio and the topology."""
    gaps = team.table[(team.table["gap_now"] > 0) | (team.table["gap_next"] > 0)]
    actions = [f"{r['name']}: {r['headcount']} now; {r['needed_now']} needed at level {level}, "
               f"{r['needed_next']} at level {min(level + 1, 5)}" for _, r in gaps.iterrows()]
    now = ", ".join(t["name"] for t in team.topologies if t["when"] == "now")
    nxt = ", ".join(t["name"] for t in team.topologies if t["when"] == "next")
    topo = f"{now}" + (f"; next, {nxt}" if nxt else "")
    low, high = team.typical_size
    size = f"{low}-{high}" if high else f"{low}+"
    detail = (f"{team.total} people against a typical {size} at level {level}. "
              f"{team.ratio_message} Topologies that fit level {level}: {topo}.")
    if not team.answered:
        detail = "No team headcount given (readiness.team). " + detail
    return [rec("team", "Team and topology", detail, actions)]


def budget_recs(budget: pd.DataFrame | None, currency: str) -> list[dict[str, Any]]:
    """The first-year budget split by the guidance, when a budget is given."""
    if budget is None:
        return []
    lines = [f"{r['name']}: {r['share_low']:.0%}-{r['share_high']:.0%}, {currency} "
             f"{r['amount_low']:,.0f}-{r['amount_high']:,.0f}" for _, r in budget.iterrows()]
    return [rec("budget", "First-year budget split", content.roadmap_guide()["budget"]["note"].strip(), lines)]


def recommendations(a: dict[str, Any], section: ReadinessSection) -> list[dict[str, Any]]:
    """Recommendations in order: blockers, red flags, prerequisites, data, maturity, roadmap, team, platform, budget."""
    blocked = {b["pillar"] for b in a["blockers"]}
    warn = [f for f in a["findings"] if f["status"] == "warn"]
    items = blocker_recs(a["blockers"], a["flags"]) + flag_recs(a["flags"], blocked)
    items += score_recs(a.get("ml_test_score"), a["scores"])
    items += prerequisite_recs(section.prerequisites)
    if warn:
        items.append(rec("data", "Data findings to raise with the data owners",
                         "From profiling the configured dataset.",
                         [f"{f['finding']} (bears on: {f['bears_on']})" for f in warn]))
    items += maturity_recs(a["maturity"], a["transition"])
    phase = a["phase"]
    items.append(rec("roadmap", f"Roadmap phase: {phase['name']} (months {phase['months']})",
                     phase["objective"], phase["actions"]))
    items += team_recs(a["team"], a["maturity"].level)
    items.append(rec("platform", "Build or buy the ML platform",
                     "Options that fit this level: " + ", ".join(o["name"] for o in a["platform"]["options"]) + ".",
                     a["platform"]["guidance"]))
    items += budget_recs(a["budget"], section.currency)
    if a["unanswered"]["questions"]:
        item = rec("unanswered", f"{len(a['unanswered']['questions'])} question(s) unanswered",
                   "Unanswered questions are not scored; answer them to firm up the pillar scores.",
                   a["unanswered"]["questions"])
        items = [item] + items if not section.answers else items + [item]
    return [{"priority": i + 1, **r} for i, r in enumerate(items)]


def score_summary(score: dict[str, Any] | None) -> dict[str, Any] | None:
    """What readiness takes from an ML Test Score: its source, final score, band and process cap."""
    from kit.ml_test_score import band

    if not score:
        return None
    meaning = band(float(score["final"]))
    weakest = set(score.get("weakest") or [])
    todo = [f"{t['id']}: {t['title']}" for t in score.get("tests") or []
            if t.get("section") in weakest and t.get("status") != "automated"]
    return {"source": score.get("source"), "final": float(score["final"]), "meaning": meaning["meaning"],
            "process_cap": float(meaning["process_cap"]),
            "sections": {k: v["points"] for k, v in (score.get("sections") or {}).items()},
            "weakest": sorted(weakest), "todo": todo}


def score_recs(summary: dict[str, Any] | None, scores: pd.DataFrame) -> list[dict[str, Any]]:
    """When the ML Test Score caps the process pillar: the tests to automate in the weakest sections."""
    if not summary or not scores.loc["process", "mean_answer"] > summary["process_cap"]:
        return []
    return [rec("ml test score", f"ML Test Score {summary['final']:g} caps process maturity at "
                f"{summary['process_cap']:g}", f"{summary['meaning']} Automate the tests of the weakest "
                f"section(s), {', '.join(summary['weakest'])}, then re-run to lift the cap.", summary["todo"])]


def assess(section: ReadinessSection, profile: DataProfile | None = None,
           organization: str | None = None, score: dict[str, Any] | None = None) -> Assessment:
    """Score the pillars, estimate the level, assess the team and build the recommendations.

    ``score`` is an ML Test Score document (an earlier run's, or this run's at the end of the chain):
    its band caps the process pillar, and through it the level.
    """
    summary = score_summary(score)
    caps = {"process": summary["process_cap"]} if summary else None
    scores = pillar_scores(section.answers, section.red_flags, caps)
    found = blockers(scores)
    est = estimate_level(section.capabilities, scores["score"], section.declared_level)
    context = {"ml_test_score": summary, "scores": scores}
    parts: dict[str, Any] = {
        "flags": flag_table(section.red_flags), "blockers": found, "maturity": est,
        "team": assess_team(section.team, est.level), "phase": roadmap_phase(est.level),
        "transition": next_transition(est.level),
        "platform": build_vs_buy(est.level, section.ml_is_core_differentiator, section.regulated),
        "budget": None if section.first_year_budget is None else budget_split(section.first_year_budget),
        "findings": data_findings(profile), "unanswered": unanswered_items(section),
    }
    return Assessment(section=section, scores=scores, profile=profile, organization=organization,
                      recommendations=recommendations(parts | context, section), ml_test_score=summary, **parts)


def profile_dataset(config: Any) -> DataProfile | None:
    """Read and profile the config's dataset as stored, before any cleaning (None when there is none or profiling
    is off). On the Dask engine the file is read lazily (a Parquet set one partition per file) and profiled per
    partition on the cluster; only the summaries come back (kit.compute.checks: the same profile)."""
    from kit.compute.lazy import phase_client
    from kit.data import read_table

    spec = config.dataset
    if spec is None or not config.readiness.profile_dataset:
        return None
    as_of = config.readiness.as_of
    now = dt.datetime.fromisoformat(as_of) if as_of else None
    options = dict(id_columns=spec.id_columns, time_column=spec.time_column, now=now, time_format=spec.time_format)
    client = phase_client(config)
    if client is not None:
        from kit.compute.checks import profile_frame_dask
        from kit.compute.data import read_lazy

        return profile_frame_dask(read_lazy(spec.path, spec.read_options), client=client, **options)
    return profile_frame(read_table(spec.path, spec.read_options), **options)


def headline(a: Assessment) -> tuple[dict[str, str], str]:
    """The index.html headline (level, blockers, weakest pillar) and its status."""
    names = content.pillars()["name"]
    weakest = weakest_pillar(a.scores)
    level = content.level_label(a.level)
    if a.maturity.status == "overestimated":
        level += f"; declared {a.maturity.declared}"
    if not (a.section.answers or a.section.capabilities or a.section.red_flags):  # nothing to estimate from
        level += ", assumed: no readiness evidence in the config (readiness.answers, capabilities)"
    head = {
        "Maturity level": level,
        "Blockers": ", ".join(f"{b['name']} ({b['score']:g})" for b in a.blockers) or "none",
        "Weakest pillar": f"{names[weakest]} ({a.pillars[weakest]:g})" if weakest else "not scored",
    }
    if a.ml_test_score:
        head["ML Test Score (earlier run)"] = (f"{a.ml_test_score['final']:g}: process pillar capped at "
                                              f"{a.ml_test_score['process_cap']:g}")
    if a.blockers:
        status = "fail"
    elif a.maturity.status == "overestimated" or a.unanswered["questions"]:
        status = "warn"
    else:
        status = "ok"
    return head, status


def maturity_dict(est: MaturityEstimate) -> dict[str, Any]:
    """The maturity estimate as plain values (limits, status, message, coverage per level)."""
    return {
        "capability_level": est.capability_level, "pillar_level": est.pillar_level,
        "limited_by": est.limited_by, "status": est.status, "gap": est.gap, "message": est.message,
        "coverage": est.coverage.reset_index().to_dict(orient="records"),
    }


def team_dict(team: TeamAssessment) -> dict[str, Any]:
    """The team assessment as plain values."""
    return {
        "headcount": team.table.reset_index().to_dict(orient="records"),
        "total": team.total, "typical_size": list(team.typical_size),
        "ds_mle_ratio": team.ratio, "ds_mle_guidance": team.ratio_guidance,
        "ratio_status": team.ratio_status, "ratio_message": team.ratio_message,
        "topologies": team.topologies,
    }


def to_artifact(a: Assessment) -> dict[str, Any]:
    """The `readiness` artifact: plain JSON-ready values the later phases read."""
    head, status = headline(a)
    raised = a.flags[a.flags["raised"].fillna(False).astype(bool)]
    rules = content.questionnaire()["rules"]
    return {
        "organization": a.organization,
        "pillars": a.pillars,
        "pillar_details": a.scores.reset_index().to_dict(orient="records"),
        "red_flags": [{"id": i, **r[["pillar", "text", "fix"]].to_dict()} for i, r in raised.iterrows()],
        "blockers": a.blockers,
        "maturity_level": a.level,
        "maturity_name": content.levels().loc[a.level, "name"],
        "declared_level": a.maturity.declared,
        "maturity": maturity_dict(a.maturity),
        "prerequisites": {p: a.section.prerequisites.get(p) for p in content.prerequisites().index},
        "recommendations": a.recommendations,
        "team": team_dict(a.team),
        "roadmap": {"phase": a.phase, "next_transition": a.transition, "build_vs_buy": a.platform,
                    "budget": None if a.budget is None else a.budget.reset_index().to_dict(orient="records"),
                    "currency": a.section.currency},
        "data_profile": None if a.profile is None else a.profile.to_dict(),
        "data_findings": a.findings,
        "unanswered": a.unanswered,
        "ml_test_score": a.ml_test_score,
        "rules": {"red_flag_caps": rules["red_flag_caps"], "blocker_below": rules["blocker_below"],
                  "min_share": content.maturity_model()["rules"]["min_share"]},
        "headline": head,
        "headline_status": status,
    }
