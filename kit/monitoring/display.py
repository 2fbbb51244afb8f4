"""Figures and tables of the monitoring phase (static: they survive HTML export)."""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure

from kit import escape
from kit.monitoring.config import AlertSettings
from kit.monitoring.run import Monitoring, psi_matrix, worst

LEVEL_COLORS = ["#e8f1e4", "#fbe3a6", "#f28c6b"]
# Per task: the two figures drawn per batch, their titles, and the alert rule of each.
PANELS = {
    "binary": (("roc_auc", "ROC AUC", "auc_drop"), ("recall", "Recall", "recall_floor")),
    "regression": (("rmse", "RMSE (target units)", "rmse_rise"), ("mae", "MAE (target units)", "mae_rise")),
    "multiclass": (("accuracy", "Accuracy", "accuracy_drop"), ("macro_f1", "Macro F1", "macro_f1_drop")),
}


def drift_heatmap(result: Monitoring, settings: AlertSettings, key_features: list[str]) -> Figure:
    """PSI per feature (rows, key features first) and batch (columns), coloured by level."""
    matrix = psi_matrix(result)
    order = [f for f in key_features if f in matrix.index] + [f for f in matrix.index if f not in key_features]
    matrix = matrix.loc[order]
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * matrix.shape[1], 0.9 + 0.32 * matrix.shape[0]))
    cmap = ListedColormap(LEVEL_COLORS)
    norm = BoundaryNorm([0, settings.psi_moderate, settings.psi_significant, 1e9], cmap.N)
    ax.imshow(matrix.fillna(0).to_numpy(), cmap=cmap, norm=norm, aspect="auto")
    ax.set_xticks(range(matrix.shape[1]), escape.labels(matrix.columns), rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(matrix.shape[0]), escape.labels(f"★ {f}" if f in key_features else f for f in matrix.index), fontsize=8)
    for (i, j), v in np.ndenumerate(matrix.to_numpy()):
        ax.text(j, i, "–" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=7)
    ax.set_title(f"PSI by feature and batch (★ key features; amber ≥ {settings.psi_moderate:g}, red ≥ {settings.psi_significant:g})", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def performance_timeline(result: Monitoring, alerts: pd.DataFrame, champion: dict[str, float]) -> Figure:
    """Measured figures of the task (binary AUC and recall, regression RMSE and MAE, multiclass accuracy and macro F1)
    with intervals, the champion's test line, alert thresholds, alert markers and the cross-checked estimates."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharex=True)
    names = list(result.batches["batch"])
    x = {n: i for i, n in enumerate(names)}
    panels = PANELS.get(result.task, PANELS["binary"])
    rule_of = {metric: rule for metric, _, rule in panels}
    for ax, (metric, label, _) in zip(axes, panels):
        m, e = result.measured, result.expected
        e = e if metric in e.columns else e.iloc[:0]
        if not m.empty:
            xs = [x[b] for b in m.index]
            ax.errorbar(xs, m[metric], yerr=[m[metric] - m[f"{metric}_low"], m[f"{metric}_high"] - m[metric]],
                        fmt="o-", color="#1f5f8b", capsize=3, label="measured (95% interval)")
        if not e.empty:
            ax.plot([x[b] for b in e.index], e[metric], "s--", color="#8a8a8a", ms=4, label="expected from scores (no labels)")
        ax.axhline(champion.get(metric, np.nan), color="#2e7d32", lw=1, label="champion on test")
        ax.axhline(result.thresholds[metric], color="#c0392b", ls="--", lw=1, label="alert threshold")
        fired = alerts[(alerts["rule"] == rule_of[metric]) & alerts["batch"].isin(m.index)] if not m.empty else alerts.iloc[:0]
        ax.scatter([x[b] for b in fired["batch"]], m.loc[fired["batch"], metric] if len(fired) else [],
                   marker="X", s=90, color="#c0392b", zorder=5, label="alert")
        ax.set_title(label, fontsize=10)
        ax.set_xticks(range(len(names)), escape.labels(names), rotation=45, ha="right", fontsize=8)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    plt.close(fig)
    return fig


def psi_bars(result: Monitoring, settings: AlertSettings, key_features: list[str]) -> Figure:
    """PSI of every feature in the worst batch, with the moderate and significant levels."""
    batch, _, _ = worst(result)
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.3 * max(1, len(result.drift.get(batch, [])))))
    if batch is None:
        ax.text(0.5, 0.5, "no drift statistics", ha="center")
        plt.close(fig)
        return fig
    values = result.drift[batch]["psi"].sort_values()
    colors = [LEVEL_COLORS[int(np.searchsorted([settings.psi_moderate, settings.psi_significant], v, side="right"))] for v in values]
    ax.barh(range(len(values)), values, color=colors, edgecolor="#555")
    ax.set_yticks(range(len(values)), escape.labels(f"★ {f}" if f in key_features else f for f in values.index))
    for level in (settings.psi_moderate, settings.psi_significant):
        ax.axvline(level, color="#c0392b", ls="--", lw=1)
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlabel("PSI (symmetric log scale)")
    ax.set_title(escape.label(f"Worst batch {batch}: PSI per feature"), fontsize=10)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def drift_summary(result: Monitoring, batch: str | None = None) -> pd.DataFrame:
    """The drift table of one batch (default: the worst), worst features first, rounded."""
    batch = batch or worst(result)[0]
    table = result.drift[batch].sort_values("psi", ascending=False)
    cols = ["kind", "psi", "test", "statistic", "p_value", "q_value", "wasserstein_std", "missing_share", "out_of_range_share", "unseen_share"]
    return table[cols + [c for c in ["ks_bound", "note"] if c in table.columns]].head(12).round(4)  # ks_bound: Dask


def alert_table(alerts: pd.DataFrame, limit: int = 25) -> pd.DataFrame:
    """The alert log (warning and critical), most severe first, trimmed for display."""
    order = {"critical": 0, "warning": 1, "info": 2}
    shown = alerts[alerts["severity"] != "info"].sort_values(["batch", "severity"], key=lambda s: s.map(order) if s.name == "severity" else s)
    return shown.head(limit).round({"value": 4, "threshold": 4}).reset_index(drop=True)


def alert_counts(alerts: pd.DataFrame) -> pd.DataFrame:
    """How many alerts per batch and rule."""
    counted = alerts[alerts["severity"] != "info"]
    return counted.pivot_table(index="batch", columns="rule", values="severity", aggfunc="size", fill_value=0) if len(counted) else pd.DataFrame()


def comparison_figure(outcome: dict[str, Any]) -> Figure:
    """Champion vs challenger on the latest labelled window, with the decision in the title."""
    fig, ax = plt.subplots(figsize=(9, 3.2))
    table = outcome.get("comparison")
    if table is None:
        ax.axis("off")
        ax.text(0.5, 0.5, escape.label(f"No challenger: {outcome['reason']}"[:160]), ha="center", va="center", wrap=True, fontsize=9)
        plt.close(fig)
        return fig
    thresholds = table.loc["threshold"] if "threshold" in table.index else pd.Series(dtype=float)
    bars = table.drop(index=["threshold"], errors="ignore")
    bars.columns = escape.labels(f"{c} (threshold {thresholds[c]:.2f})" if c in thresholds else c for c in bars.columns)
    bars.plot.bar(ax=ax, color=["#8a8a8a", "#1f5f8b"], rot=0)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    if not {"rmse", "mae"} & set(bars.index):  # rates; errors are in the target's units
        ax.set_ylim(0, 1)
    ax.tick_params(labelsize=8)
    ax.set_title(escape.label(f"Decision: {outcome['decision'].upper()} (window {', '.join(outcome['evaluated_on'])})"), fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def decision_note(outcome: dict[str, Any], applied: dict[str, Any]) -> Markdown:
    """The retraining decision and its reason in words."""
    lines = ([f"**Synthetic scenario {escape.md(applied.get('scenario'))}:** challengers are registered under their "
              "own model name and never move the real champion"] if applied.get("synthetic") else []) + [
             f"**Retraining triggered:** {'yes' if outcome['triggered'] else 'no'}",
             f"**Decision:** {escape.md(outcome['decision'])}",
             f"**Why:** {escape.md(outcome['reason'])}",
             f"**Registry:** {escape.md(applied.get('registry', 'not changed'))}"]
    trained = outcome.get("trained_on")
    if trained:
        lines.insert(len(lines) - 2, f"**Challenger:** {escape.md(outcome.get('algorithm'))} from the training pipeline, fitted on "
                        f"{trained['fit_rows']:,} rows (training rows + batches {escape.md(', '.join(trained['batches']))}), "
                        f"validated on {trained['valid_rows']:,}; compared on {escape.md(', '.join(outcome['evaluated_on']))}")
    return Markdown("  \n".join(lines))


def latency_table(latency: dict[str, float]) -> pd.DataFrame:
    """Scoring latency percentiles per 1,000 rows against the budget."""
    return pd.DataFrame({"ms per 1,000 rows": {k: round(latency[f"{k}_ms"], 2) for k in ("p50", "p95", "p99")} | {"budget": latency["budget_ms"]}})


def headline(artifact: dict[str, Any]) -> Markdown:
    """The artifact's headline as a short list."""
    items = "\n".join(f"- **{escape.md(k)}:** {escape.md(v)}" for k, v in artifact["headline"].items())
    return Markdown(f"{items}\n- **Status:** {escape.md(artifact['headline_status'])}")


def candidates_table(outcome: dict[str, Any]) -> pd.DataFrame | Markdown:
    """The challenger's candidates as the training pipeline scored them on validation (the selected one marked)."""
    table = outcome.get("candidates")
    if table is None:
        return Markdown("No challenger was trained.")
    shown = ["candidate", "roc_auc", "pr_auc", "f1", "recall", "rmse", "mae", "accuracy", "balanced_accuracy", "macro_f1",
             "threshold", "trees", "selected"]
    return table[[c for c in shown if c in table.columns]].set_index("candidate").round(3)


def performance_table(result: Monitoring) -> pd.DataFrame:
    """Every batch's measured figures, or why there are none (e.g. too few labelled positives): nothing hidden."""
    counts = ["positives", "negatives"] if result.task == "binary" else ["labelled_rows"]
    shown = result.batches.set_index("batch")[["rows", "partial_period", *counts, "performance"]]
    metrics = {"binary": ["roc_auc", "roc_auc_low", "roc_auc_high", "recall", "precision", "f1"],
               "regression": ["rmse", "rmse_low", "rmse_high", "mae", "mae_low", "mae_high", "bias"],
               "multiclass": ["accuracy", "accuracy_low", "accuracy_high", "macro_f1", "macro_f1_low", "macro_f1_high",
                              "balanced_accuracy"]}[result.task]
    measured = result.measured.reindex(columns=metrics) if not result.measured.empty else pd.DataFrame(columns=metrics)
    return shown.join(measured.round(3))


def watched_note(setup: Any, overlap: dict[str, Any]) -> Markdown:
    """Which model is watched and why, and whether production rows overlap the training period."""
    who = setup.watched
    role = "**CANDIDATE, not a champion**" if setup.watching_candidate else "**champion**"
    lines = [f"**Watched model:** {escape.md(who.get('name'))} v{escape.md(who.get('version') or '-')}, {role}",
             f"**Why:** {escape.md(who.get('note', ''))}",
             f"**Training overlap:** {escape.md(overlap.get('detail', 'not checked'))}"]
    return Markdown("  \n".join(lines))


def replay_table(outcome: dict[str, Any]) -> pd.DataFrame | Markdown:
    """The walk-forward replay: each batch where a rule fired, what was decided and what it gained or lost."""
    timeline = outcome.get("timeline")
    if timeline is None or timeline.empty:
        return Markdown("No retraining rule fired in any batch: the watched model was kept throughout.")
    return timeline.drop(columns=["reason"]).round({"serving_score": 3, "challenger_score": 3, "delta": 3, "original_score": 3, "vs_original": 3}).set_index("batch")


def replay_figure(result: Monitoring, outcome: dict[str, Any]) -> Figure:
    """The task's headline figure per batch (AUC, RMSE or macro F1), with the batches where rules fired, challengers
    were judged and the champion changed."""
    fig, ax = plt.subplots(figsize=(10, 3.4))
    names = list(result.batches["batch"])
    x = {n: i for i, n in enumerate(names)}
    m = result.measured
    metric, ylabel, _ = PANELS.get(result.task, PANELS["binary"])[0 if result.task != "multiclass" else 1]
    if not m.empty:
        ax.plot([x[b] for b in m.index], m[metric], "o-", color="#1f5f8b", label=f"watched model at the start: measured {ylabel}")
    timeline = outcome.get("timeline")
    if timeline is not None and not timeline.empty:
        marks = {"promote": ("#2e7d32", "champion changes"), "keep": ("#8a8a8a", "challenger kept out")}
        for decision, (color, label) in marks.items():
            rows = timeline[timeline["decision"] == decision]
            for i, r in enumerate(rows.itertuples()):  # a handful of decisions
                ax.axvline(x[r.batch] + 0.5, color=color, ls="-" if decision == "promote" else ":", lw=2 if decision == "promote" else 1,
                           label=label if i == 0 else None)
                ax.annotate(f"{r.delta:+.3f}", (x[r.batch] + 0.5, 1.0), xycoords=("data", "axes fraction"),
                            ha="center", va="bottom", fontsize=7, color=color)
        other = timeline[~timeline["decision"].isin(list(marks))]
        if not other.empty:
            ax.scatter([x[b] for b in other["batch"]], np.full(len(other), 0.02), transform=ax.get_xaxis_transform(),
                       marker="|", s=80, color="#c0392b", label="rule fired, no challenger (cool-down, budget, small batch)")
    partial = result.batches.loc[result.batches["partial_period"], "batch"]
    for b in partial:  # first/last period at most
        ax.axvspan(x[b] - 0.5, x[b] + 0.5, color="#eeeeee", zorder=0)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    delta = ("challenger - serving model" if result.task != "regression"
             else "serving model's RMSE - challenger's: what the challenger gained")
    ax.set_title(f"Walk-forward replay: when the champion would have changed\n(delta = {delta} on the next window; grey = partial period)",
                 fontsize=9, pad=14)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    plt.close(fig)
    return fig


def prediction_drift_table(result: Monitoring) -> pd.DataFrame:
    """Prediction drift per batch: PSI and test of the scores (binary), the predicted values (regression, with their
    mean) or the predicted class mix (multiclass, with each class's share beside the reference's)."""
    d = result.score_drift
    if d.empty:
        return pd.DataFrame()
    table = d[[c for c in ("psi", "test", "statistic", "p_value") if c in d.columns]].copy()
    if "shares" in d.columns:
        labels = d["classes"].iloc[0]
        shares = pd.DataFrame(d["shares"].tolist(), index=d.index, columns=[f"share {c}" for c in labels])
        reference = pd.Series(d["reference_shares"].iloc[0], index=shares.columns)
        shares.loc["reference"] = reference
        return table.join(shares, how="outer").round(4)
    mean = ("mean_prediction", "reference_mean_prediction") if "mean_prediction" in d.columns else ("mean_score", "reference_mean_score")
    return table.assign(**{mean[0]: d[mean[0]], mean[1]: d[mean[1]]}).round(4)


def estimate_note(result: Monitoring) -> Markdown:
    """What can be known without labels for this model, and how far to trust it, in words."""
    if not result.batches["scored"].any():
        return Markdown("**Without labels:** no batch could be scored (see the data-quality findings), so nothing "
                        "was estimated.")
    return Markdown(f"**Without labels:** {escape.md(result.estimate.get('note', ''))}")
