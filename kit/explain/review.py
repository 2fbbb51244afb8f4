"""Human in the loop: a review band around the decision threshold and how its width trades queue size for errors."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def in_band(proba: np.ndarray, threshold: float, half_width: float) -> np.ndarray:
    """True for predictions whose probability lies within ``half_width`` of the threshold."""
    return np.abs(np.asarray(proba, dtype=float) - threshold) <= half_width


def band_curve(proba: np.ndarray, y_true: np.ndarray, threshold: float, widths: np.ndarray) -> pd.DataFrame:
    """Queue size and error rate inside/outside the band for each half-width (sorted cumulative sums, no loops)."""
    proba = np.asarray(proba, dtype=float)
    errors = ((proba >= threshold).astype(int) != np.asarray(y_true).astype(int)).astype(float)
    distance = np.abs(proba - threshold)
    order = np.argsort(distance, kind="stable")
    cum_errors = np.concatenate([[0.0], np.cumsum(errors[order])])
    n, total_errors = len(proba), errors.sum()
    widths = np.asarray(widths, dtype=float)
    inside = np.searchsorted(distance[order], widths, side="right")
    errors_in = cum_errors[inside]
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame(
            {
                "half_width": widths,
                "queue_size": inside,
                "queue_share": inside / max(n, 1),
                "error_rate_in": np.where(inside > 0, errors_in / inside, np.nan),
                "error_rate_out": np.where(n - inside > 0, (total_errors - errors_in) / (n - inside), np.nan),
                "errors_caught_share": errors_in / total_errors if total_errors else np.nan,
            }
        )


def default_widths(chosen: float, steps: int = 31) -> np.ndarray:
    """Grid of half-widths from 0 to the larger of 0.3 and twice the chosen one, including the chosen one."""
    grid = np.linspace(0.0, max(0.3, 2 * chosen), steps)
    return np.unique(np.append(grid, chosen))


def queue_summary(proba: np.ndarray, y_true: np.ndarray, threshold: float, half_width: float) -> dict[str, Any]:
    """The chosen band: its limits, queue size and the error rates inside and outside it."""
    row = band_curve(proba, y_true, threshold, np.array([half_width])).iloc[0]
    return {
        "threshold": float(threshold),
        "band": [max(0.0, threshold - half_width), min(1.0, threshold + half_width)],
        "half_width": float(half_width),
        "size": int(row["queue_size"]),
        "share": float(row["queue_share"]),
        "error_rate_in": float(row["error_rate_in"]),
        "error_rate_out": float(row["error_rate_out"]),
        "errors_caught_share": float(row["errors_caught_share"]),
    }


def review_queue(
    ids: pd.Series, proba: np.ndarray, y_true: np.ndarray, threshold: float, half_width: float, reasons: pd.DataFrame
) -> pd.DataFrame:
    """The rows to review, closest to the threshold first, with their reason codes."""
    mask = in_band(proba, threshold, half_width)
    queue = pd.DataFrame(
        {
            "row_id": ids.to_numpy()[mask],
            "probability": np.round(np.asarray(proba)[mask], 6),
            "decision": np.where(np.asarray(proba)[mask] >= threshold, "positive", "negative"),
            "distance_to_threshold": np.round(np.abs(np.asarray(proba)[mask] - threshold), 6),
            "actual": np.asarray(y_true)[mask],
        },
        index=ids.index[mask],
    )
    queue = queue.join(reasons.drop(columns=["margin"], errors="ignore"), how="left")
    return queue.sort_values("distance_to_threshold", kind="stable").reset_index(drop=True)
