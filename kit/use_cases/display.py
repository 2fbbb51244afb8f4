"""Static views of the phase (survive HTML export): tables, Markdown notes and matplotlib figures."""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from kit import escape
from kit.use_cases.pilot import Pilot
from kit.use_cases.portfolio import Portfolio, rules
from kit.use_cases.scoring import Readiness
from kit.use_cases.stability import Stability, verdict


def _e(value: Any) -> str:
    """Escape a user-provided value for Markdown."""
    return escape.md(value)


def _money(x: float) -> str:
    """USD in thousands or millions: 1,400,000 -> '$1.40M'."""
    if not np.isfinite(x):
        return "n/a"
    return f"${x / 1e6:,.2f}M" if abs(x) >= 1e6 else f"${x / 1e3:,.0f}k"


def _months(x: float) -> str:
    """Payback months, or 'never'."""
    return f"{x:.1f}" if np.isfinite(x) else "never"


def readiness_note(readiness: Readiness) -> Markdown:
    """Which maturity level and blockers gate the scores, and where they came from."""
    levels = {1: "Ad hoc", 2: "Repeatable", 3: "Defined", 4: "Managed", 5: "Optimized"}
    blockers = ", ".join(_e(b.get("pillar", "?")) for b in readiness.blockers) or "none"
    warn = "" if readiness.source.startswith("readiness artifact") else "**Warning:** "
    return Markdown(
        f"- Maturity level: **{readiness.maturity_level} ({levels[readiness.maturity_level]})**\n"
        f"- Blockers: {blockers}\n- Source: {warn}{_e(readiness.source)}"
    )


def portfolio_overview(portfolio: Portfolio) -> pd.DataFrame:
    """The candidates in brief: unit, problem, money, sponsor, stakes, and whether data is linked."""
    f = portfolio.frame
    return pd.DataFrame(
        {
            "use case": f["name"],
            "unit": f["business_unit"],
            "problem": f["problem_type"],
            "annual value": f["annual_value"].map(_money),
            "build cost": f["build_cost"].map(_money),
            "sponsor": f["executive_sponsor"].map({True: "yes", False: "no"}),
            "stakes": f["stakes"],
            "dataset": f["name"].map(lambda n: "linked" if n in portfolio.datasets else ""),
        }
    ).set_index("use case")


def tasks_note(portfolio: Portfolio) -> Markdown:
    """Each use case's learning task, and which ones the kit cannot train (scored, never the pilot)."""
    from kit.use_cases.tasks import task_table

    table = task_table(portfolio.frame)
    lines = [
        f"- **{_e(r.name)}** ({_e(r.problem_type)}): "
        + (f"not trainable by the kit: {_e(r.why)}; scored and ranked, but it cannot be the pilot" if not r.trainable
           else f"{'decided from the target' if r.task == 'auto' else r.task}"
           + ("; time-ordered split with calendar features" if r.time_ordered else ""))
        for r in table.itertuples()
    ]
    return Markdown("\n".join(lines))


def weights_table(weights: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Each criterion: its group, label, weight, share of its group, and why it counts."""
    crit = rules()["criteria"]
    rows = [
        {"group": g, "criterion": crit[g][n]["label"], "weight": w, "share of group": w / sum(ws.values()), "why": crit[g][n]["why"]}
        for g, ws in weights.items() for n, w in ws.items()
    ]
    return pd.DataFrame(rows).set_index(["group", "criterion"]).round(3)


def gating_table(ranking: pd.DataFrame) -> pd.DataFrame:
    """Feasibility before and after readiness gating, with each penalty, for use cases that lost points."""
    cols = ["name", "feasibility_raw", "complexity_gap", "explainability_gap", "blockers", "feasibility_score"]
    hit = ranking[ranking["readiness_penalty"] > 0][cols]
    return hit.set_index("name").round(2).rename(columns={"feasibility_raw": "feasibility before", "feasibility_score": "feasibility after"})


def ranked_table(ranking: pd.DataFrame, pilot: str | None = None) -> Any:
    """The ranking with scores, quadrant and ROI, best first (a Styler; the pilot row highlighted)."""
    view = pd.DataFrame(
        {
            "rank": ranking["rank"],
            "use case": ranking["name"],
            "value": ranking["value_score"].round(2),
            "feasibility": ranking["feasibility_score"].round(2),
            "quadrant": ranking["quadrant"],
            "payback (months)": ranking["payback_months"].map(_months),
            "3-year NPV": ranking["npv_3y"].map(_money),
            "P(success)": ranking["success_probability"].map("{:.0%}".format),
            "risk-adjusted value": ranking["risk_adjusted_value"].map(_money),
        }
    )
    if "rank_stability" in ranking:
        view["keeps rank"] = ranking["rank_stability"].map("{:.0%}".format)
    colors = rules()["quadrants"]["colors"]
    styler = escape.styler(view, precision=2).hide(axis="index")
    styler = styler.map(lambda q: f"background-color: {colors.get(q, '')}; color: #111", subset=["quadrant"])
    if pilot is not None:
        styler = styler.apply(lambda r: ["font-weight: bold" if r["use case"] == pilot else "" for _ in r], axis=1)
    return styler


def _quadrant_legend(ax: Any, colors: dict[str, str]) -> None:
    """A legend with one dot per quadrant."""
    handles = [Line2D([], [], marker="o", ls="", color=c, markersize=9, label=q) for q, c in colors.items()]
    ax.legend(handles=handles, loc="lower left", fontsize=8, title="quadrant", title_fontsize=8, framealpha=0.9)


def bubble_chart(ranking: pd.DataFrame, pilot: str | None = None) -> Figure:
    """Value vs feasibility: bubble size = annual value, colour = quadrant, the pilot circled."""
    q = rules()["quadrants"]
    fig, ax = plt.subplots(figsize=(11, 6.2))
    size = ranking["annual_value"].to_numpy(dtype=float)
    ax.axvline(q["feasibility_threshold"], color="#999", lw=0.8, ls="--")
    ax.axhline(q["value_threshold"], color="#999", lw=0.8, ls="--")
    area = 60 + 900 * size / size.max()
    ax.scatter(ranking["feasibility_score"], ranking["value_score"], s=area,
               c=ranking["quadrant"].map(q["colors"]), alpha=0.75, edgecolor="#333", linewidth=0.6)
    for rank, x, y in zip(ranking["rank"], ranking["feasibility_score"], ranking["value_score"]):
        ax.annotate(str(rank), (x, y), fontsize=8, ha="center", va="center", fontweight="bold")
    key = "\n".join(f"{r:>2}  {escape.label(n)}" for r, n in zip(ranking["rank"], ranking["name"]))
    ax.text(1.02, 1.0, "rank  use case\n" + key, transform=ax.transAxes, va="top", fontsize=8, family="monospace")
    if pilot is not None and pilot in set(ranking["name"]):
        row = ranking[ranking["name"] == pilot].iloc[0]
        ax.scatter([row["feasibility_score"]], [row["value_score"]], s=1400, facecolor="none", edgecolor="black", linewidth=2)
        ax.annotate("PILOT", (row["feasibility_score"], row["value_score"]), xytext=(0, -30), textcoords="offset points", ha="center", va="top", fontweight="bold")
    for label, (x, y) in {"quick win": (4.95, 4.95), "strategic bet": (1.05, 4.95), "fill-in": (4.95, 1.05), "avoid": (1.05, 1.05)}.items():
        ax.text(x, y, label, ha="right" if x > 3 else "left", va="top" if y > 3 else "bottom", color=q["colors"][label], fontweight="bold", fontsize=10)
    ax.set(xlim=(0.9, 5.1), ylim=(0.9, 5.1), xlabel="feasibility score (after readiness gating)", ylabel="value score",
           title="Value-feasibility matrix (bubble size = expected annual value)")
    _quadrant_legend(ax, q["colors"])
    fig.tight_layout()
    plt.close(fig)
    return fig


def roi_chart(ranking: pd.DataFrame, pilot: str | None = None) -> Figure:
    """3-year NPV next to the risk-adjusted value per use case, with payback months written on the bars."""
    data = ranking.sort_values("risk_adjusted_value")
    y = np.arange(len(data))
    fig, ax = plt.subplots(figsize=(8.5, 0.45 * len(data) + 1.6))
    ax.barh(y + 0.2, data["npv_3y"] / 1e6, height=0.4, color="#b8c4d6", label="3-year NPV (if it succeeds)")
    ax.barh(y - 0.2, data["risk_adjusted_value"] / 1e6, height=0.4, color="#2a6f97", label="risk-adjusted value")
    for yi, (npv, months) in enumerate(zip(data["npv_3y"] / 1e6, data["payback_months"])):
        ax.text(max(npv, 0) + 0.05, yi + 0.2, f"payback {_months(months)} mo", va="center", fontsize=7, color="#444")
    labels = [f"{n}  (pilot)" if n == pilot else n for n in data["name"]]
    ax.set_yticks(y, escape.labels(labels), fontsize=8)
    ax.axvline(0, color="#333", lw=0.8)
    ax.set(xlabel="USD million", title="Return on investment over three years")
    ax.set_xlim(right=ax.get_xlim()[1] * 1.18)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def stability_chart(stability: Stability) -> Figure:
    """Share of perturbed-weight draws in which each use case keeps its rank (and is ranked first)."""
    t = stability.table.sort_values("rank", ascending=False)
    rule = rules()["stability"]
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * len(t) + 1.6))
    y = np.arange(len(t))
    ax.barh(y, t["rank_stability"], color="#8ab6d6", label="keeps its rank")
    ax.barh(y, t["top_share"], color="#2a9d8f", height=0.35, label="ranked first")
    ax.axvline(rule["robust_share"], color="#2a9d8f", ls="--", lw=0.8)
    ax.axvline(rule["fragile_share"], color="#c8553d", ls="--", lw=0.8)
    for yi, share, lo, hi in zip(y, t["rank_stability"], t["rank_p05"], t["rank_p95"]):
        ax.text(1.02, yi, f"{share:.0%} (90% of draws: rank {lo:.0f}-{hi:.0f})", va="center", fontsize=7)
    ax.set_yticks(y, escape.labels(f"#{r} {n}" for r, n in zip(t["rank"], t["name"])), fontsize=8)
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set(xlim=(0, 1.4), xlabel=f"share of {stability.draws:,} draws (every weight ±{stability.perturbation:.0%}, seed {stability.seed})",
           title="Rank stability: robust choice or coin toss?\n")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    plt.close(fig)
    return fig


def _at_least(metric: str) -> str:
    """'≥' for a metric where higher is better (AUC, recall), '≤' for an error (RMSE, MAE, log loss)."""
    from kit.tasks import higher_is_better

    return "≥" if higher_is_better(metric) else "≤"


def _task_text(record: dict[str, Any]) -> str:
    """The pilot's learning task as training will receive it, and why."""
    task = record.get("task", "auto")
    what = "decided from the target by training" if task == "auto" else f"**{task}**"
    split = "; time-ordered split with calendar features" if record.get("time_ordered") else ""
    return f"{what}{split} ({_e(record.get('task_reason', ''))})"


def pilot_card(pilot: Pilot, stability: Stability | None = None) -> Markdown:
    """The chosen pilot: why, KPI, stakes and explainability tier, dataset, costs and warnings."""
    r = pilot.record
    kpi = r["kpi"]
    metric = f"; model metric **{_e(kpi['metric'])} {_at_least(kpi['metric'])} {kpi['threshold']}**" if kpi["metric"] else ""
    data = f"{escape.md_code(r['dataset']['path'])} (target {escape.md_code(r['dataset']['target'])})" if r["dataset"] else "none linked: training uses the config's `dataset`"
    costs = f"false positive ${r['costs']['false_positive']:,.0f}, false negative ${r['costs']['false_negative']:,.0f}" if r["costs"] else "not given"
    lines = [
        f"### Pilot: {_e(pilot.name)}",
        f"- Why: {_e(pilot.reason)}",
        f"- Quadrant: {_e(r['quadrant'])}; rank {r['rank']}; payback {_months(r['payback_months'])} months; 3-year NPV {_money(r['npv_3y'])}; risk-adjusted {_money(r['risk_adjusted_value'])}",
        f"- KPI: {_e(kpi['name'])} from **{kpi['baseline']:g}** to **{kpi['target']:g}**{metric}",
        f"- Task: {_task_text(r)}",
        f"- Stakes: {_e(r['stakes'])} → explainability tier **{_e(r['explainability_tier'])}** ({_e(r['explainability_requires'])})",
        f"- Dataset: {data}",
        f"- Error costs: {costs}",
    ]
    if stability is not None:
        share = float(stability.table.loc[stability.table["name"] == pilot.name, "rank_stability"].iloc[0])
        lines.append(f"- Rank stability: keeps its rank in {share:.0%} of draws ({verdict(share, rules()['stability'])})")
    lines += [f"- **Warning:** {_e(w)}" for w in pilot.warnings]
    return Markdown("\n".join(lines))


def headline_note(artifact: dict[str, Any]) -> Markdown:
    """The artifact's headline and warnings as a short summary."""
    items = [f"- {_e(k)}: **{_e(v)}**" for k, v in artifact["headline"].items()]
    items += [f"- Warning: {_e(w)}" for w in artifact["warnings"]]
    return Markdown(f"**Status: {_e(artifact['headline_status'])}**\n\n" + "\n".join(items))
