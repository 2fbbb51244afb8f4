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


def metrics_view(table: pd.DataFrame, confidence: float = 0.95) -> Any:
    """Champion test metrics with bootstrap intervals."""
    view = table.rename(columns={"low": f"{confidence:.0%} low", "high": f"{confidence:.0%} high"})
    return escape.styler(view, precision=3, na_rep="-")


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
    ax.barh(y, data["single_feature_auc"], color=colors)
    ax.set_yticks(y, escape.labels(data["feature"]))
    ax.axvline(cutoff, ls="--", color="#c0392b", label=f"leak cut-off {cutoff:g}")
    ax.set(xlim=(0.5, 1.0), xlabel="ROC AUC of the feature alone", title="Leakage screen")
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
