"""Figures and tables of the training phase (static: they survive HTML export)."""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown

from kit import escape

LEADERBOARD_COLUMNS = ["candidate", "kind", "roc_auc", "pr_auc", "log_loss", "brier", "f1", "recall", "precision",
                       "accuracy", "threshold", "trees", "fit_seconds"]


def leaderboard_view(board: pd.DataFrame) -> Any:
    """Leaderboard styled: one row per candidate, best on the selection metric first, with its validation score."""
    cols = [c for c in LEADERBOARD_COLUMNS if c in board.columns] + [c for c in board.columns if c.startswith("valid_")]
    return escape.styler(board[cols], precision=3, na_rep="-").hide(axis="index").highlight_max(
        subset=["roc_auc", "pr_auc", "f1"], color="#d7f0d7").highlight_min(subset=["log_loss", "brier"], color="#d7f0d7")


def metrics_view(table: pd.DataFrame, confidence: float = 0.95, notes: list[str] | None = None) -> Any:
    """Champion test metrics with bootstrap intervals; ``notes`` (e.g. why MAPE is omitted) as the caption."""
    view = table.rename(columns={"low": f"{confidence:.0%} low", "high": f"{confidence:.0%} high"})
    styled = escape.styler(view, precision=3, na_rep="-")
    return styled.set_caption(escape.html(" ".join(notes))) if notes else styled


def gates_view(table: pd.DataFrame) -> Any:
    """Gate results, failures in red."""
    def color(v: bool) -> str:
        """Green for pass, red for fail."""
        return "background-color: #d7f0d7" if v else "background-color: #f6d0d0"
    return escape.styler(table).map(color, subset=["passed"])


def curves_figure(y: np.ndarray, scores: dict[str, np.ndarray]) -> plt.Figure:
    """ROC and precision-recall curves of several candidates on the test rows."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(10, 4.2))
    for name, p in scores.items():  # a few candidates
        fpr, tpr, _ = roc_curve(y, p)
        prec, rec, _ = precision_recall_curve(y, p)
        ax_roc.plot(fpr, tpr, label=escape.label(name))
        ax_pr.plot(rec, prec, label=escape.label(name), drawstyle="steps-post")
    ax_roc.plot([0, 1], [0, 1], ls=":", color="grey")
    ax_pr.axhline(float(np.mean(y)), ls=":", color="grey", label="positive rate")
    ax_roc.set(title="ROC curve (test)", xlabel="false positive rate", ylabel="true positive rate")
    ax_pr.set(title="Precision-recall curve (test)", xlabel="recall", ylabel="precision", ylim=(0, 1.02))
    ax_roc.legend(loc="lower right", fontsize=8)
    ax_pr.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def calibration_and_confusion_figure(y: np.ndarray, p: np.ndarray, threshold: float, labels: tuple[str, str]) -> plt.Figure:
    """Calibration curve (predicted vs observed rate) and confusion matrix at the threshold."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import confusion_matrix

    fig, (ax_cal, ax_cm) = plt.subplots(1, 2, figsize=(10, 4.2))
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    ax_cal.plot([0, 1], [0, 1], ls=":", color="grey", label="perfectly calibrated")
    ax_cal.plot(predicted, observed, marker="o", label="champion candidate")
    ax_cal.set(title="Calibration (test, deciles)", xlabel="mean predicted probability", ylabel="observed positive rate")
    ax_cal.legend(loc="upper left", fontsize=8)
    cm = confusion_matrix(y, (p >= threshold).astype(int), labels=[0, 1])
    ax_cm.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):  # four cells
        ax_cm.text(j, i, f"{v:,}", ha="center", va="center", color="white" if v > cm.max() / 2 else "black", fontsize=12)
    names = escape.labels([f"{labels[0]} (0)", f"{labels[1]} (1)"])
    ax_cm.set(xticks=[0, 1], yticks=[0, 1], xticklabels=names, yticklabels=names, xlabel="predicted", ylabel="actual",
              title=f"Confusion matrix at threshold {threshold:.3f}")
    fig.tight_layout()
    plt.close(fig)
    return fig


def leakage_figure(leakage: pd.DataFrame, cutoff: float | None = None, top: int = 15) -> plt.Figure:
    """Single-feature AUC of the top features, with the leak cut-off (default from content)."""
    from kit import content

    cutoff = leakage.attrs.get("cutoff", content.load("training")["quality"]["leakage_auc"]) if cutoff is None else cutoff
    data = leakage.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(data) + 1.2))
    suspected = data["suspected"] if "suspected" in data else False
    colors = np.where(data["flagged"], "#c0392b", np.where(suspected, "#e67e22", "#4c72b0"))
    y = np.arange(len(data))
    column = leakage.attrs.get("column", "single_feature_auc")
    label = {"AUC": "ROC AUC"}.get(leakage.attrs.get("metric", "AUC"), leakage.attrs.get("metric"))
    ax.barh(y, data[column], color=colors)
    ax.set_yticks(y, escape.labels(data["feature"]))
    ax.axvline(cutoff, ls="--", color="#c0392b", label=f"leak cut-off {cutoff:g}")
    low = leakage.attrs.get("floor", 0.5) if column == "single_feature_auc" else min(0.0, float(data[column].min()))
    ax.set(xlim=(low, 1.0), xlabel=f"{label} of the feature alone", title="Leakage screen")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def notes_markdown(title: str, notes: list[str]) -> Markdown:
    """A bulleted list of warnings or notes (escaped)."""
    if not notes:
        return Markdown(f"**{escape.md(title)}:** none")
    items = "\n".join(f"- {escape.md(n)}" for n in notes)
    return Markdown(f"**{escape.md(title)}:**\n\n{items}")


def outcome_markdown(outcome: dict[str, Any]) -> Markdown:
    """One paragraph: which model, which version, champion or candidate and why."""
    name = escape.md(outcome["model_name"])
    status = outcome["status"]
    head = (f"**{name}** version **{escape.md(outcome.get('version') or '(not registered)')}** "
            f"({escape.md(outcome['algorithm'])}) is **{escape.md(status)}**.")
    if status == "champion":
        return Markdown(head + " Every gate passed; the `champion` alias now points at it.")
    failed = outcome.get("failed_gates") or []
    pending = outcome.get("pending") or (f"It stays a candidate: training gates failed ({', '.join(map(str, failed))})"
                                         if failed else "It stays a candidate")
    return Markdown(head + f" {escape.md(pending)}. The promotion decision "
                    "comes at the end of phase 3, with the fairness and tier evidence (and a sign-off where the stakes need it).")


# ---- per task -----------------------------------------------------------------------------
BINARY_ONLY = ("the decision threshold, the error costs and the business value apply to yes/no decisions only: "
               "a {task} model outputs {what}, so this report shows no threshold and no cost table")
OUTPUTS = {"regression": "a number in the target's units", "multiclass": "one probability per class (the highest is the prediction)"}


def task_markdown(decision: dict[str, str]) -> Markdown:
    """The task this run trains for, why, the metric that selects and gates its models, and what is binary-only."""
    task = decision["task"]
    text = (f"**Task: {escape.md(task)}.** {escape.md(decision['reason'])}. Models are selected and gated on "
            f"**{escape.md(decision['metric'])}**.")
    if task != "binary":
        text += " " + escape.md(BINARY_ONLY.format(task=task, what=OUTPUTS[task]).capitalize()) + "."
    return Markdown(text)


def task_leaderboard_view(board: pd.DataFrame) -> Any:
    """Leaderboard of any task, best value of each metric highlighted in its better direction."""
    if "roc_auc" in board.columns:
        return leaderboard_view(board)
    from kit import content
    from kit.tasks import higher_is_better

    known = content.load("training")["metrics"]
    metrics = [c for c in board.columns if c in known]
    cols = ["candidate", "kind", *metrics, *[c for c in ("trees", "fit_seconds") if c in board.columns],
            *[c for c in board.columns if c.startswith("valid_")]]
    view = escape.styler(board[cols], precision=3, na_rep="-").hide(axis="index")
    up = [m for m in metrics if higher_is_better(m) and board[m].notna().any()]
    down = [m for m in metrics if not higher_is_better(m) and board[m].notna().any()]
    return view.highlight_max(subset=up, color="#d7f0d7").highlight_min(subset=down, color="#d7f0d7")


def test_figure(run: Any) -> plt.Figure:
    """The task's comparison on test rows: ROC/PR curves (binary), predicted vs actual (regression), confusion matrix (multiclass)."""
    if run.task == "binary":
        return curves_figure(run.part("test")[1], run.test_scores())
    y = run.part("test")[1]
    if run.task == "regression":
        return predicted_figure(y, {c.name: c.extra["test_proba"] for c in run.candidates if c.kind == "model" or c.name == "ridge"})
    return confusion_matrix_figure(y, run.best.extra["test_proba"].argmax(1), run.target.classes)


def champion_view(run: Any) -> Any:
    """The selected model in detail: calibration and confusion (binary), residuals (regression), per-class recall (multiclass)."""
    if run.task == "binary":
        return calibration_and_confusion_figure(*run.champion_test())
    if run.task == "regression":
        return residual_figure(run.part("test")[1], run.best.extra["test_proba"])
    return metrics_view(run.per_class.rename(columns={"recall": "recall (value)"}), run.settings.confidence)


def business_value_view(run: Any) -> Any:
    """Binary: the error-cost table (None without costs); other tasks: why there is none."""
    if run.task == "binary":
        return run.business_value()
    return Markdown(escape.md(BINARY_ONLY.format(task=run.task, what=OUTPUTS[run.task]).capitalize()) + ".")


def predicted_figure(y: np.ndarray, predictions: dict[str, np.ndarray]) -> plt.Figure:
    """Predicted against actual values on the test rows, one panel per candidate (the diagonal is perfect)."""
    fig, axes = plt.subplots(1, len(predictions), figsize=(4.2 * len(predictions), 4), squeeze=False)
    low, high = float(np.min(y)), float(np.max(y))
    for ax, (name, pred) in zip(axes[0], predictions.items()):  # a few candidates
        ax.scatter(y, pred, s=4, alpha=0.3)
        ax.plot([low, high], [low, high], ls=":", color="grey")
        rmse = float(np.sqrt(np.mean((pred - y) ** 2)))
        ax.set(title=escape.label(f"{name} (RMSE {rmse:,.3g})"), xlabel="actual", ylabel="predicted")
    fig.suptitle("Predicted vs actual (test rows)")
    fig.tight_layout()
    plt.close(fig)
    return fig


def residual_figure(y: np.ndarray, pred: np.ndarray) -> plt.Figure:
    """Residuals (actual - predicted) against the prediction, and their distribution, for the selected model on test rows."""
    residual = np.asarray(y, dtype="float64") - np.asarray(pred, dtype="float64")
    fig, (ax_res, ax_hist) = plt.subplots(1, 2, figsize=(10, 4.2))
    ax_res.scatter(pred, residual, s=4, alpha=0.3)
    ax_res.axhline(0, ls=":", color="grey")
    ax_res.set(title="Residuals vs prediction (test)", xlabel="predicted", ylabel="actual - predicted")
    ax_hist.hist(residual, bins=50, color="#4c72b0")
    ax_hist.axvline(0, ls=":", color="grey")
    ax_hist.set(title=f"Residuals: mean {residual.mean():,.3g}, sd {residual.std():,.3g}", xlabel="actual - predicted", ylabel="rows")
    fig.tight_layout()
    plt.close(fig)
    return fig


def confusion_matrix_figure(y: np.ndarray, pred: np.ndarray, classes: list[Any]) -> plt.Figure:
    """K x K confusion matrix of the selected model on test rows: counts, colored by the share of each actual class."""
    from kit.training.metrics import confusion_counts

    k = len(classes)
    counts = confusion_counts(y, pred, k)
    share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 * k + 3, 0.8 * k + 2.5))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(counts):  # K x K cells, not rows
        ax.text(j, i, f"{v:,}", ha="center", va="center", color="white" if share[i, j] > 0.5 else "black", fontsize=10)
    names = escape.labels([str(c) for c in classes])
    ax.set(xticks=range(k), yticks=range(k), xticklabels=names, yticklabels=names, xlabel="predicted", ylabel="actual",
           title="Confusion matrix (test; color: share of the actual class)")
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    plt.close(fig)
    return fig
