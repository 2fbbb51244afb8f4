"""Figures, tables and Markdown for the readiness phase (static: they survive HTML export)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown
from matplotlib.figure import Figure
from pandas.io.formats.style import Styler

from kit import escape
from kit.profile import DataProfile
from kit.readiness import content
from kit.readiness.assess import Assessment

BLOCKER_COLOR = "#c0392b"
SCORE_COLOR = "#2c6fbb"
MUTED = "#8a8a8a"


def esc(text: object) -> str:
    """Escape text for Markdown output (links, images, HTML and emphasis become plain text)."""
    return escape.md(text)


def scoring_rules() -> Markdown:
    """The scoring rules, read from the content files, as Markdown."""
    rules = content.questionnaire()["rules"]
    model = content.maturity_model()["rules"]
    caps = ", ".join(f"{r['min_flags']}+ flags: at most {r['cap']:g}" for r in rules["red_flag_caps"])
    lines = [
        f"- **Pillar score.** {esc(rules['pillar_score'].strip())}",
        f"- **Red-flag cap.** {esc(rules['red_flag_rule'].strip())} ({esc(caps)})",
        f"- **Blocker.** {esc(rules['blocker_rule'].strip())}",
        f"- **Missing pillar.** {esc(rules['missing_pillar_rule'].strip())}",
        f"- **Maturity level.** {esc(model['level_rule'].strip())} {esc(model['pillar_rule'].strip())}",
    ]
    mins = content.levels()["min_pillar"].dropna()
    lines.append("- **Minimum pillar score per level:** "
                 + ", ".join(f"level {lv}: {m:g}" for lv, m in mins.items()))
    return Markdown("\n".join(lines))


def questionnaire(a: Assessment) -> pd.DataFrame:
    """Every question with its pillar and the answer given ('-' when unanswered)."""
    table = content.questions()[["pillar", "text"]].copy()
    table["pillar"] = table["pillar"].map(content.pillars()["name"])
    table["answer"] = pd.Series(a.section.answers, dtype="Int64").reindex(table.index).astype(object).fillna("-")
    return table.rename(columns={"text": "question"})


def profile_summary(profile: DataProfile | None) -> Markdown:
    """The headline facts of a dataset profile as a short Markdown list."""
    if profile is None:
        return Markdown("_No dataset profiled (no `dataset` in the config, or `readiness.profile_dataset: false`)._")
    worst = [kv for kv in sorted(profile.missing_share.items(), key=lambda kv: -kv[1])[:3] if kv[1] > 0]
    lines = [
        f"- **{profile.rows:,} rows, {profile.columns} columns** "
        f"({', '.join(f'{n} {k}' for k, n in profile.kinds.items())})",
        f"- missing cells: {profile.missing_cell_share:.2%}; most missing: "
        + (", ".join(f"{esc(c)} {s:.1%}" for c, s in worst) or "none"),
        f"- duplicate rows: {profile.duplicate_rows:,} (ignoring id columns: {profile.duplicate_rows_ignoring_ids:,})",
        f"- constant columns: {esc(', '.join(profile.constant_columns) or 'none')}; "
        f"id-like columns: {esc(', '.join(profile.id_like_columns) or 'none')}",
    ]
    if profile.blank_strings:
        lines.append("- blank strings in text columns: "
                     + ", ".join(f"{esc(c)} ({n})" for c, n in profile.blank_strings.items()))
    if profile.time_column and profile.time_error:
        lines.append(f"- time column {esc(profile.time_column)}: not read as dates ({esc(profile.time_error)})")
    elif profile.time_column:
        lines.append(f"- time column {esc(profile.time_column)}: {esc(profile.time_min)} to {esc(profile.time_max)}, "
                     f"newest row {profile.freshness_days} days old")
    return Markdown("\n".join(lines))


def data_evidence(a: Assessment) -> pd.DataFrame | Markdown:
    """Findings from profiling the dataset, each with the data-readiness item it bears on."""
    if a.profile is None:
        return Markdown("_No dataset profiled (no `dataset` in the config, or `readiness.profile_dataset: false`)._")
    return pd.DataFrame(a.findings).set_index("check")


def scorecard(a: Assessment) -> Styler:
    """One row per pillar: score, answers, raised red flags, cap and blocker, blockers highlighted."""
    flags = a.flags[a.flags["raised"].fillna(False).astype(bool)]
    raised = flags.groupby("pillar")["text"].agg("; ".join)
    s = a.scores
    table = pd.DataFrame({
        "pillar": s["name"],
        "score": s["score"],
        "answered": s["answered"].astype(str) + " of " + s["questions"].astype(str),
        "mean answer": s["mean_answer"],
        "red flags raised": raised.reindex(s.index).fillna("none"),
        "cap": s["cap"].where(np.isfinite(s["cap"])),
        "blocker": s["blocker"].map({True: "BLOCKER", False: ""}),
    }).reset_index(drop=True)
    styler = escape.styler(table, {"score": "{:.2f}", "mean answer": "{:.2f}", "cap": "{:g}"}, na_rep="-")
    styler = styler.apply(lambda row: [f"background-color: #f8d7d3" if row["blocker"] else ""] * len(row), axis=1)
    return styler.hide(axis="index")


def radar_chart(a: Assessment) -> Figure:
    """Radar of the four pillar scores on 1-5, with the blocker ring at 2."""
    names = a.scores["name"].tolist()
    scores = a.scores["score"].to_numpy(dtype=float)
    angles = np.linspace(0, 2 * np.pi, len(names), endpoint=False)
    closed = np.r_[angles, angles[:1]]
    fig, ax = plt.subplots(figsize=(5.6, 5.2), subplot_kw={"polar": True})
    ring = content.questionnaire()["rules"]["blocker_below"]
    ax.plot(np.linspace(0, 2 * np.pi, 200), np.full(200, ring), color=BLOCKER_COLOR, ls="--", lw=1.2,
            label=f"blocker line ({ring:g})")
    ax.fill_between(np.linspace(0, 2 * np.pi, 200), 0, ring, color=BLOCKER_COLOR, alpha=0.07)
    shown = np.nan_to_num(scores, nan=0.0)
    ax.fill(closed, np.r_[shown, shown[:1]], color=SCORE_COLOR, alpha=0.25)
    ax.plot(closed, np.r_[shown, shown[:1]], color=SCORE_COLOR, lw=2, marker="o", label="pillar score")
    labels = [f"{n}\n{'not scored' if np.isnan(v) else f'{v:.2f}'}" for n, v in zip(names, scores)]
    ax.set_xticks(angles, labels, fontsize=9)
    ax.tick_params(axis="x", pad=10)
    for label, val in zip(ax.get_xticklabels(), scores):
        label.set_color(BLOCKER_COLOR if val < ring else "black")
    ax.set_ylim(0, 5)
    ax.set_yticks([1, 2, 3, 4, 5], ["1", "2", "3", "4", "5"], fontsize=7, color=MUTED)
    ax.set_title("Readiness by pillar (1 nascent - 5 advanced)", fontsize=11, pad=18)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    plt.close(fig)
    return fig


def maturity_ladder(a: Assessment) -> Figure:
    """The five levels as a ladder with capability coverage, the estimated and the declared level."""
    lv = content.levels()
    cov = a.maturity.coverage["share"].reindex(lv.index).fillna(1.0)
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    y = lv.index.to_numpy()
    ax.barh(y, np.ones(len(y)), color="#eeeeee", height=0.7)
    colors = np.where(y <= a.level, SCORE_COLOR, "#a9c4e4")
    ax.barh(y, cov.to_numpy(), color=colors, height=0.7)
    share = content.maturity_model()["rules"]["min_share"]
    ax.axvline(share, color=MUTED, ls=":", lw=1)
    ax.annotate(f"{share:.0%} rule", (share, 5.45), ha="center", fontsize=8, color=MUTED, annotation_clip=False)
    ax.set_yticks(y, [f"{i} {lv.loc[i, 'name']}" for i in y])
    ax.set_xlim(0, 1.62)
    ax.set_xticks([0, 0.5, 1], ["0%", "50%", "100%"])
    ax.set_xlabel("share of the level's capabilities present (level 1 is the floor)")
    counts = a.maturity.coverage
    for lvl in counts.index:
        ax.annotate(f"{counts.loc[lvl, 'present']} of {counts.loc[lvl, 'total']}", (0.02, lvl),
                    va="center", fontsize=8, color="white" if lvl <= a.level else "black")
    ax.plot([1.04], [a.level], marker="<", color=SCORE_COLOR, ms=9)
    ax.annotate("estimated", (1.08, a.level), va="center", fontsize=9, color=SCORE_COLOR, weight="bold")
    if a.maturity.declared is not None:
        d = a.maturity.declared
        ax.plot([1.34], [d], marker="<", mfc="white", mec=BLOCKER_COLOR, ms=9, mew=1.5)
        ax.annotate("declared", (1.38, d), va="center", fontsize=9, color=BLOCKER_COLOR)
    held = ", held down by the pillar scores" if a.maturity.limited_by == "pillars" else ""
    ax.set_title(f"Maturity: estimated level {content.level_label(a.level)}{held}", fontsize=11)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    plt.close(fig)
    return fig


def maturity_summary(a: Assessment) -> Markdown:
    """The estimate, what limits it, and the declared-vs-evidence message."""
    est = a.maturity
    lim = ("the pillar scores (the weakest pillar is below the next level's minimum)"
           if est.limited_by == "pillars" else "the capabilities in place")
    row = content.levels().loc[est.level]
    lines = [
        f"**Estimated level {esc(content.level_label(est.level))}** ({esc(row['alias'])}): "
        f"capabilities alone give level {est.capability_level}; "
        + (f"pillar scores allow up to level {est.pillar_level}" if a.scores["score"].notna().any()
           else "no pillar is scored yet, so the pillars do not limit it")
        + f"; the estimate is limited by {lim}.",
        "",
        f"> {esc(est.message)}",
        "",
        f"Typical team at this level: {esc(row['team_note'])}; typical time to the next level: "
        f"{esc(row['time_to_next'])}.",
    ]
    return Markdown("\n".join(lines))


def team_table(a: Assessment) -> pd.DataFrame:
    """Headcount by role against the minimum at the estimated and the next level."""
    level = a.level
    table = a.team.table[["name", "headcount", "needed_now", "needed_next"]]
    return table.rename(columns={"needed_now": f"needed at level {level}",
                                 "needed_next": f"needed at level {min(level + 1, 5)}"}).set_index("name")


def recommendations_markdown(a: Assessment) -> Markdown:
    """The recommendations, blockers first, as readable Markdown (all text escaped)."""
    org = f" for {esc(a.organization)}" if a.organization else ""
    lines = [f"### Recommendations{org}", ""]
    for r in a.recommendations:
        lines.append(f"{r['priority']}. **{esc(r['title'])}**" + (f": {esc(r['detail'])}" if r["detail"] else ""))
        lines += [f"    - {esc(x)}" for x in r["actions"]]
    return Markdown("\n".join(lines))


def ml_test_score_note(score: dict | None, earlier: object = None) -> Markdown:
    """What the earlier run's ML Test Score does to the process pillar (or why there is none)."""
    from kit.ml_test_score import band

    if not score:
        where = (f"`readiness.earlier_run` ({escape.md_code(earlier)}) holds no `ml_test_score.json` yet"
                 if earlier else "no `readiness.earlier_run` is set")
        return Markdown(f"_No ML Test Score from an earlier run: {where}. The process pillar comes from the answers "
                        "alone; this run's own score is computed at the end of the chain (`ml_test_score.json`, "
                        "shown on the run's index page with the process pillar and level it implies)._")
    meaning = band(float(score["final"]))
    sections = ", ".join(f"{esc(k)} {v['points']:g}/{v['max']}" for k, v in score["sections"].items())
    return Markdown(f"**ML Test Score {score['final']:g}** of the earlier run {escape.md_code(score.get('source'))} "
                    f"({sections}; the final score is the lowest section): {esc(meaning['meaning'])} "
                    f"It caps the **process pillar at {meaning['process_cap']:g}**.")
