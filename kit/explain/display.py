"""Figures and tables of phase 3 (static: matplotlib figures saved as PNG, small frames, Markdown)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown

from kit import escape
from kit.explain import card as card_mod
from kit.promotion import fairness_text

RAISE_COLOR, LOWER_COLOR = "#c0392b", "#2e86c1"
FIG_DIR = "figures"


def _finish(fig: Any, out_dir: Path | None, name: str) -> Any:
    """Save the figure as PNG beside the artifact (when a folder is given), close it and return it."""
    fig.tight_layout()
    if out_dir is not None:
        path = Path(out_dir) / FIG_DIR / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return fig


def inputs_summary(inputs: Any) -> Markdown:
    """What is explained: model, test rows, threshold, tier."""
    c = inputs.champion
    task = getattr(inputs, "task", "binary")
    lines = [
        f"**Model**: {escape.md(c.get('model_name') or 'not registered')} v{escape.md(c.get('version'))}, "
        f"{escape.md(c.get('status') or 'status unknown')} "
        f"({escape.md(inputs.model.algorithm)}, {len(inputs.model.features)} features, {_model_kind(inputs)})",
        f"**Test rows**: {len(inputs.y):,} ({_target_mix(inputs)})",
        f"**Sensitive columns**: {escape.md(', '.join(inputs.spec.sensitive) or 'none')}",
        f"**Explainability tier**: {escape.md(inputs.tier)} (from {escape.md(inputs.tier_source)})",
    ]
    if getattr(inputs, "rows", None) is not None:
        lines.append(f"**Engine**: Dask, {inputs.rows.frame.npartitions} partition(s): the test rows stay on the cluster; "
                     "the model's output is computed per partition and only the rows a step needs are gathered")
    if task != "binary":
        reason = (inputs.training.get("task") or {}).get("reason") or ""
        lines.insert(1, f"**Task**: {task}" + (f" ({escape.md(reason)})" if reason else ""))
    return Markdown("\n\n".join(lines))


def _model_kind(inputs: Any) -> str:
    """'threshold 0.312' (binary), 'K classes' (multiclass) or 'regression' (as Markdown)."""
    task = getattr(inputs, "task", "binary")
    if task == "multiclass":
        return f"{len(inputs.classes)} classes: {escape.md(', '.join(map(str, inputs.classes)))}"
    return "regression" if task == "regression" else f"threshold {inputs.threshold:.3f}"


def _target_mix(inputs: Any) -> str:
    """The test target in a few words: positive rate, class shares, or mean and spread."""
    task = getattr(inputs, "task", "binary")
    if task == "regression":
        return f"{escape.md(inputs.spec.target)} mean {np.mean(inputs.y):,.4g}, std {np.std(inputs.y):,.4g}"
    if task == "multiclass":
        shares = pd.Series(inputs.y).map(dict(enumerate(inputs.classes))).value_counts(normalize=True)
        return "class shares " + escape.md(", ".join(f"{k} {v:.1%}" for k, v in shares.items()))
    return f"positive rate {np.mean(inputs.y):.1%}"


def shap_unit(inputs: Any) -> str:
    """The unit SHAP values are in, for axis labels: log-odds, the target's units, or the predicted class's raw score."""
    task = getattr(inputs, "task", "binary")
    if task == "regression":
        return f"{inputs.spec.target} (target units)"
    return "raw score of the predicted class" if task == "multiclass" else "log-odds"


def importance_table(glob: Any, top: int = 10) -> pd.DataFrame:
    """The top features by mean |SHAP| with their share of the total."""
    per_class = [c for c in glob.importance.columns if c.startswith("class ")]
    table = glob.importance.head(top)[["rank", "feature", "mean_abs_shap", "mean_shap", "share", *per_class]]
    return table.round({"mean_abs_shap": 4, "mean_shap": 4, "share": 3, **{c: 4 for c in per_class}}).set_index("rank")


def _sample(glob: Any, inputs: Any) -> pd.DataFrame:
    """The booster-ready rows of the SHAP sample (gathered once on the Dask engine)."""
    return glob.sample if getattr(glob, "sample", None) is not None else inputs.prepared.iloc[glob.positions]


def beeswarm(glob: Any, inputs: Any, top: int = 10) -> Any:
    """Beeswarm: each dot a row's SHAP value for a feature, coloured by the feature's value (low blue, high red)."""
    features = glob.importance["feature"].head(top).tolist()[::-1]
    values = glob.contributions.values
    rng = np.random.default_rng(inputs.seed)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(features) + 1.5))
    for i, feature in enumerate(features):  # one scatter per feature (a handful), never per row
        raw = _sample(glob, inputs)[feature]
        codes = raw.cat.codes.where(raw.notna()).astype(float) if isinstance(raw.dtype, pd.CategoricalDtype) else raw.astype(float)
        colour = (codes.rank(pct=True)).to_numpy()
        y = i + rng.uniform(-0.3, 0.3, len(values))
        ax.scatter(values[feature], y, c=colour, cmap="coolwarm", s=6, alpha=0.6, vmin=0, vmax=1)
    ax.axvline(0, color="#888", lw=0.8)
    ax.set_yticks(range(len(features)), escape.labels(features))
    ax.set_xlabel(escape.label(_beeswarm_label(inputs)))
    ax.set_title(f"How each top feature moves predictions ({len(values):,} sampled rows)\n"
                 "colour: feature value, blue low → red high (categories: level order)", fontsize=10)
    return _finish(fig, inputs.out_dir, "beeswarm")


def _beeswarm_label(inputs: Any) -> str:
    """The beeswarm's x label for the task."""
    task = getattr(inputs, "task", "binary")
    if task == "regression":
        return f"SHAP value in {inputs.spec.target}: right raises the prediction"
    if task == "multiclass":
        return "SHAP value (raw score of each row's predicted class): right makes that class more likely"
    return "SHAP value (log-odds): right raises the predicted risk"


def stability_figure(glob: Any, inputs: Any) -> Any:
    """Importance from two random halves of the sample against each other; agreement in the title."""
    st = glob.stability
    a, b = pd.Series(st["half_a"]), pd.Series(st["half_b"])
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.scatter(a, b, color="#555")
    for name in glob.importance["feature"].head(5):
        ax.annotate(escape.label(name), (a[name], b[name]), fontsize=8, xytext=(3, 3), textcoords="offset points")
    top = float(max(a.max(), b.max())) * 1.1
    ax.plot([0, top], [0, top], color="#bbb", ls="--", lw=1)
    ax.set_xlabel(f"mean |SHAP|, half A ({st['rows_per_half']:,} rows)")
    ax.set_ylabel("mean |SHAP|, half B")
    ax.set_title(f"Ranking stability: Spearman {st['spearman']:.2f}, Kendall {st['kendall']:.2f}, "
                 f"top-{st['top_k']} overlap {st['top_k_overlap']:.0%}", fontsize=10)
    return _finish(fig, inputs.out_dir, "stability")


def dependence(glob: Any, inputs: Any) -> Any:
    """Dependence plots: SHAP value against the feature's value, for the top features."""
    n = max(inputs.settings.dependence_features, 1)
    features = glob.importance["feature"].head(n).tolist()
    fig, axes = plt.subplots(1, len(features), figsize=(4.2 * len(features), 3.6), squeeze=False)
    for ax, feature in zip(axes[0], features):  # one panel per top feature
        raw = _sample(glob, inputs)[feature]
        shap_values = glob.contributions.values[feature].to_numpy()
        if isinstance(raw.dtype, pd.CategoricalDtype):
            frame = pd.DataFrame({"level": raw.astype(str).to_numpy(), "shap": shap_values})
            order = frame.groupby("level")["shap"].median().sort_values().index.tolist()
            ax.boxplot([frame.loc[frame["level"] == lv, "shap"] for lv in order], vert=False, showfliers=False)
            ax.set_yticks(range(1, len(order) + 1), escape.labels(lv[:22] for lv in order), fontsize=8)
        else:
            ax.scatter(raw.to_numpy(dtype=float), shap_values, s=6, alpha=0.5, color="#34495e")
            ax.set_xlabel(escape.label(feature))
        ax.axvline(0, color="#bbb", lw=0.8) if isinstance(raw.dtype, pd.CategoricalDtype) else ax.axhline(0, color="#bbb", lw=0.8)
        ax.set_title(escape.label(feature))
    if not isinstance(_sample(glob, inputs)[features[0]].dtype, pd.CategoricalDtype):
        axes[0][0].set_ylabel(escape.label(f"SHAP value ({shap_unit(inputs)})"))
    return _finish(fig, inputs.out_dir, "dependence")


def waterfall_frame(contribs: Any, row: int, max_features: int = 8) -> pd.DataFrame:
    """Steps of one row's waterfall: the largest contributions, the rest summed as 'other features'."""
    values = contribs.values.iloc[row]
    order = values.abs().sort_values(ascending=False).index
    top, rest = values[order[:max_features]], values[order[max_features:]]
    steps = pd.concat([top, pd.Series({f"{len(rest)} other features": rest.sum()})]) if len(rest) else top
    start = contribs.base[row] + np.concatenate([[0.0], np.cumsum(steps.to_numpy())[:-1]])
    return pd.DataFrame({"feature": steps.index, "shap": steps.to_numpy(), "start": start})


def waterfalls(local: dict[str, Any], inputs: Any) -> Any:
    """Waterfall per chosen row: from the base value to the row's score, feature by feature."""
    n = len(local["labels"])
    fig, axes = plt.subplots(n, 1, figsize=(8, 3.2 * n), squeeze=False)
    for i, ax in enumerate(axes[:, 0]):  # one panel per chosen row (a few)
        steps = waterfall_frame(local["contributions"], i)
        values = local["values"].iloc[i]
        labels = [f"{f} = {str(values[f])[:18]}" if f in values.index else f for f in steps["feature"]]
        colours = np.where(steps["shap"] > 0, RAISE_COLOR, LOWER_COLOR)
        ax.barh(range(len(steps))[::-1], steps["shap"], left=steps["start"], color=colours)
        ax.set_yticks(range(len(steps))[::-1], escape.labels(labels), fontsize=8)
        ax.axvline(local["contributions"].base[i], color="#888", ls=":", lw=1)
        ax.set_title(escape.label(f"{local['labels'][i]}: row {local['ids'][i]}, {_local_outcome(local, i)}"), fontsize=10)
        ax.axvline(local["contributions"].margin[i], color="#222", lw=1)
        ax.set_xlabel(escape.label(f"{shap_unit(inputs)} (dotted: base value, solid: this row's score)"))
        ax.use_sticky_edges = False  # bars drawn from `left` would otherwise pin the limits to their edges
        ax.margins(x=0.06)  # keep the base and score lines off the frame
    return _finish(fig, inputs.out_dir, "waterfalls")


def _local_outcome(local: dict[str, Any], i: int) -> str:
    """What the model said for a chosen row: its probability, predicted class, or prediction."""
    task = local.get("task", "binary")
    if task == "regression":
        return f"predicted {local['target']} {local['proba'][i]:,.4g}"
    if task == "multiclass":
        return f"predicted {local['predicted'][i]} (probability {local['proba'][i]:.2f})"
    return f"probability {local['proba'][i]:.2f}"


def reason_sample(reasons: Any, rows: int = 5) -> pd.DataFrame:
    """A few reason-code rows (highest probability or prediction first), as they appear in the CSV."""
    key = "probability" if "probability" in reasons.table else "prediction"
    cols = ["row_id", *(["predicted"] if "predicted" in reasons.table else []), key, "reasons"]
    return reasons.table.sort_values(key, ascending=False)[cols].head(rows).reset_index(drop=True)


def fairness_table(fair: dict[str, Any]) -> pd.DataFrame:
    """One line per sensitive column: ratios with intervals, thresholds and status."""
    if fair.get("task", "binary") != "binary":
        return task_fairness_table(fair)
    rows = []
    for c in fair["columns"]:
        t = c["thresholds"]
        dpr_ci, eod_ci = c["demographic_parity_ratio_ci"], c["equalized_odds_difference_ci"]
        rows.append({
            "column": c["column"], "groups": len(c["groups"]),
            "parity ratio": c["demographic_parity_ratio"], "ratio 95% CI": _ci(dpr_ci),
            f"min ({t.demographic_parity_ratio_min:g})": _versus_min(c["demographic_parity_ratio"], t.demographic_parity_ratio_min),
            "equalized odds diff": c["equalized_odds_difference"], "diff 95% CI": _ci(eod_ci),
            "status": c["status"],
        })
    return pd.DataFrame(rows).round(3) if rows else pd.DataFrame({"status": [fairness_text(fair["gate"])]})


def _versus_min(ratio: float, minimum: float) -> str:
    """'ok' or 'below' against the minimum; 'n/a' when too few groups had enough rows to compute the ratio."""
    return "n/a" if not np.isfinite(ratio) else ("ok" if ratio >= minimum else "below")


def _figure(value: float) -> str:
    """A summary figure with two decimals, or 'n/a' when there was not enough evidence to compute it."""
    return f"{value:.2f}" if np.isfinite(value) else "n/a (insufficient evidence)"


def _ci(ci: list[float | None]) -> str:
    """Interval as text."""
    return "n/a" if ci[0] is None else f"{ci[0]:.2f}–{ci[1]:.2f}"


def task_fairness_table(fair: dict[str, Any]) -> pd.DataFrame:
    """Regression or multiclass: one line per sensitive column, each summary figure with its interval and limit, and status."""
    from kit.explain.fairness import FIGURE_RULES

    rows = []
    for c in fair["columns"]:
        row: dict[str, Any] = {"column": c["column"], "groups": len(c["groups"])}
        for name, value in c["figures"].items():
            side = "max" if FIGURE_RULES[name][0] == "max" else "min"
            row[name] = value
            row[f"{name} 95% CI"] = _ci(c["figures_ci"][name])
            row[f"{name} {side} allowed"] = c["limits"][name]
        row["status"] = c["status"]
        rows.append(row)
    return pd.DataFrame(rows).round(3) if rows else pd.DataFrame({"status": [fairness_text(fair["gate"])]})


def group_table(fair: dict[str, Any]) -> pd.DataFrame:
    """Per-group metrics of every sensitive column (counts, rates, AUC, evidence)."""
    if fair.get("task", "binary") != "binary":
        frames = [c["groups"].drop(columns=["code"], errors="ignore").assign(column=c["column"]) for c in fair["columns"]]
        return pd.concat(frames).set_index(["column", "group"]).round(3) if frames else pd.DataFrame()
    cols = ["group", "count", "positives", "selection_rate", "true_positive_rate", "false_positive_rate", "precision", "auc", "evidence"]
    frames = [c["groups"][cols].assign(column=c["column"]) for c in fair["columns"]]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames).set_index(["column", "group"]).round(3)


def fairness_chart(fair: dict[str, Any], inputs: Any) -> Any:
    """Per column: selection rate by group with its interval and the four-fifths line; TPR and FPR by group."""
    columns = fair["columns"]
    if fair.get("task", "binary") != "binary":
        return task_fairness_chart(fair, inputs)
    fig, axes = plt.subplots(max(len(columns), 1), 2, figsize=(10, 3.2 * max(len(columns), 1)), squeeze=False)
    for (ax_sel, ax_err), c in zip(axes, columns):  # one row of panels per sensitive column
        g = c["groups"]
        x = np.arange(len(g))
        ok = (g["evidence"] == "sufficient").to_numpy()
        err = _err(g, "selection_rate")
        ax_sel.bar(x, g["selection_rate"], color=np.where(ok, "#5d6d7e", "#d5d8dc"), yerr=err, capsize=3)
        floor = c["thresholds"].demographic_parity_ratio_min * g.loc[ok, "selection_rate"].max() if ok.any() else None
        if floor is not None:
            ax_sel.axhline(floor, color=RAISE_COLOR, ls="--", lw=1, label=f"{c['thresholds'].demographic_parity_ratio_min:g} × highest rate")
            ax_sel.legend(fontsize=8)
        ax_sel.set_xticks(x, escape.labels(f"{lv}\n(n={n})" for lv, n in zip(g["group"], g["count"])), fontsize=8)
        ax_sel.set_title(escape.label(f"{c['column']}: selection rate ({c['status']})"), fontsize=10)
        w = 0.38
        ax_err.bar(x - w / 2, g["true_positive_rate"], w, yerr=_err(g, "true_positive_rate"), capsize=2, label="TPR", color="#27ae60")
        ax_err.bar(x + w / 2, g["false_positive_rate"], w, yerr=_err(g, "false_positive_rate"), capsize=2, label="FPR", color="#e67e22")
        ax_err.set_xticks(x, escape.labels(g["group"]), fontsize=8)
        ax_err.set_title(f"TPR / FPR by group (max gap allowed {c['thresholds'].equalized_odds_difference_max:g}; "
                         f"here {_figure(c['equalized_odds_difference'])})", fontsize=10)
        ax_err.legend(fontsize=8)
    return _finish(fig, inputs.out_dir, "fairness")


def task_fairness_chart(fair: dict[str, Any], inputs: Any) -> Any:
    """Per column: MAE and mean prediction by group (regression), or accuracy and per-class selection rates (multiclass)."""
    columns, task = fair["columns"], fair["task"]
    fig, axes = plt.subplots(max(len(columns), 1), 2, figsize=(10, 3.2 * max(len(columns), 1)), squeeze=False)
    for (ax_a, ax_b), c in zip(axes, columns):  # one row of panels per sensitive column
        g = c["groups"]
        x = np.arange(len(g))
        ok = (g["evidence"] == "sufficient").to_numpy()
        first = "mae" if task == "regression" else "accuracy"
        ax_a.bar(x, g[first], color=np.where(ok, "#5d6d7e", "#d5d8dc"), yerr=_err(g, first), capsize=3)
        ax_a.set_xticks(x, escape.labels(f"{lv}\n(n={n})" for lv, n in zip(g["group"], g["count"])), fontsize=8)
        ax_a.set_title(escape.label(f"{c['column']}: {'MAE' if task == 'regression' else 'accuracy'} by group ({c['status']})"), fontsize=10)
        if task == "regression":
            w = 0.38
            ax_b.bar(x - w / 2, g["mean_prediction"], w, yerr=_err(g, "mean_prediction"), capsize=2, label="mean prediction", color="#e67e22")
            ax_b.bar(x + w / 2, g["mean_actual"], w, label="mean actual", color="#27ae60")
            ax_b.set_title("mean prediction and mean actual by group", fontsize=10)
        else:
            rates = [col for col in g.columns if col.startswith("selection_rate[")]
            bottom = np.zeros(len(g))
            for col in rates:  # one stacked bar segment per class (a handful)
                ax_b.bar(x, g[col], bottom=bottom, label=escape.label(col[len("selection_rate["):-1]))
                bottom += g[col].to_numpy(dtype=float)
            ax_b.set_title("share of each group predicted as each class", fontsize=10)
        ax_b.set_xticks(x, escape.labels(g["group"]), fontsize=8)
        ax_b.legend(fontsize=7)
    return _finish(fig, inputs.out_dir, "fairness")


def _err(groups: pd.DataFrame, metric: str) -> np.ndarray | None:
    """Asymmetric error bars from the bootstrap interval columns, when present."""
    if f"{metric}_low" not in groups:
        return None
    low = pd.to_numeric(groups[f"{metric}_low"], errors="coerce").to_numpy()
    high = pd.to_numeric(groups[f"{metric}_high"], errors="coerce").to_numpy()
    point = groups[metric].to_numpy(dtype=float)
    return np.nan_to_num(np.vstack([point - low, high - point]).clip(min=0))


def queue_curve(queue: dict[str, Any], inputs: Any) -> Any:
    """Queue share and error rates inside/outside the band against the band's half-width."""
    if "error" in queue["summary"]:
        return ranked_queue_curve(queue, inputs)
    curve, chosen = queue["curve"], queue["summary"]["half_width"]
    fig, ax = plt.subplots(figsize=(7.5, 4))
    ax.plot(curve["half_width"], curve["queue_share"], color="#34495e", label="share of rows sent to review")
    ax.plot(curve["half_width"], curve["error_rate_in"], color=RAISE_COLOR, label="error rate inside the band")
    ax.plot(curve["half_width"], curve["error_rate_out"], color=LOWER_COLOR, label="error rate outside (automated)")
    ax.axvline(chosen, color="#888", ls="--", lw=1)
    ax.annotate(f"queue at capacity: {queue['summary']['size']:,} rows (±{chosen:.3f})", (chosen, 0.95), xycoords=("data", "axes fraction"), fontsize=8)
    ax.set_xlabel("half-width of the review band around the threshold")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Review queue: a wider band catches more errors but costs more reviews", fontsize=10)
    return _finish(fig, inputs.out_dir, "review_queue")


def ranked_queue_curve(queue: dict[str, Any], inputs: Any) -> Any:
    """Regression or multiclass: the error inside and outside the queue as the queue takes more of the most uncertain rows."""
    curve, s = queue["curve"], queue["summary"]
    fig, ax = plt.subplots(figsize=(7.5, 4))
    ax.plot(curve["queue_share"], curve["error_in"], color=RAISE_COLOR, label=f"{s['error']} in the queue")
    ax.plot(curve["queue_share"], curve["error_out"], color=LOWER_COLOR, label=f"{s['error']} of the automated rows")
    ax.axvline(s["share"], color="#888", ls="--", lw=1)
    ax.annotate(f"queue at capacity: {s['size']:,} rows", (s["share"], 0.95), xycoords=("data", "axes fraction"), fontsize=8)
    ax.set_xlabel(escape.label(f"share of test rows queued, ordered by {s['by']}"))
    ax.set_ylabel(escape.label(s["error"]))
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    ax.set_title("Review queue: the most uncertain rows first; the gap is what review catches", fontsize=10)
    return _finish(fig, inputs.out_dir, "review_queue")


def gate_summary(gate: dict[str, Any]) -> pd.DataFrame:
    """What the tier requires and whether this run delivered it."""
    return pd.DataFrame(gate["checks"]).assign(met=lambda t: np.where(t["met"], "yes", "MISSING"))


def card_preview(card: dict[str, Any]) -> Markdown:
    """The model card's Markdown (headings demoted so it sits inside the notebook)."""
    facts = {k: v for k, v in card.items()}
    return Markdown(card_mod.card_markdown(facts).replace("\n## ", "\n#### ").replace("# Model card", "### Model card", 1))
