"""Human in the loop: a review queue sized by the reviewers' capacity, most uncertain predictions first.

The queue holds the rows whose score is closest to the decision threshold (the least certain
decisions), as many as the reviewers can handle: ``capacity`` rows of the ``volume`` scored per
period, or a ``share`` of the scored rows. Its error rate on the labelled test rows is reported
beside the automated rows', with counts, and the curve shows how queue size trades for errors.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kit import content
from kit.errors import DataError


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


def capacity_share(settings: Any) -> dict[str, Any]:
    """The share of scored rows reviewers can handle, with the capacity, volume and period it comes from."""
    defaults = content.load("explain")["review"]
    if settings.capacity is not None:
        period = settings.period or defaults["default_period"]
        if settings.volume is None:
            raise DataError("explainability.review.capacity needs explainability.review.volume (rows scored per period)")
        return {"share": min(1.0, settings.capacity / settings.volume), "capacity": settings.capacity,
                "volume": settings.volume, "period": period,
                "source": f"{settings.capacity:,} of {settings.volume:,} rows per {period} (review.capacity / review.volume)"}
    if settings.share is not None:
        return {"share": float(settings.share), "capacity": None, "volume": None, "period": None,
                "source": f"review.share {settings.share:g}"}
    share = float(defaults["default_share"])
    return {"share": share, "capacity": None, "volume": None, "period": None,
            "source": f"default share {share:g} (kit/content/explain.yaml); set explainability.review.capacity and volume"}


def queue_size(share: float, rows: int) -> int:
    """Rows of ``rows`` the queue holds at ``share``: rounded, at least one when the share is positive."""
    if rows <= 0:
        return 0
    return int(min(rows, max(1, np.floor(share * rows + 0.5))))


def queue_positions(proba: np.ndarray, threshold: float, size: int, max_distance: float | None = None) -> np.ndarray:
    """Positions of the ``size`` rows closest to the threshold (ties by position), optionally within ``max_distance``."""
    distance = np.abs(np.asarray(proba, dtype=float) - threshold)
    order = np.argsort(distance, kind="stable")[:size]
    if max_distance is not None:
        order = order[distance[order] <= max_distance]
    return order


def _outward(x: float, direction: Any) -> float:
    """``x`` rounded to 6 decimals with ``np.floor`` or ``np.ceil`` (float noise below 1e-9 ignored)."""
    return float(direction(np.round(x * 1e6, 3)) / 1e6)


def queue_summary(proba: np.ndarray, y_true: np.ndarray, threshold: float, positions: np.ndarray) -> dict[str, Any]:
    """The queue's size, the band it reaches (limits rounded outward to 6 decimals, as in the CSV), and errors inside and outside."""
    proba, y_true = np.asarray(proba, dtype=float), np.asarray(y_true).astype(int)
    errors = (proba >= threshold).astype(int) != y_true
    queued = np.zeros(len(proba), dtype=bool)
    queued[positions] = True
    n, size = len(proba), int(queued.sum())
    errors_in, errors_out = int(errors[queued].sum()), int(errors[~queued].sum())
    reach = float(np.abs(proba[queued] - threshold).max()) if size else 0.0
    rate = lambda e, k: e / k if k else float("nan")  # noqa: E731
    return {
        "threshold": float(threshold),
        "band": [max(0.0, _outward(threshold - reach, np.floor)), min(1.0, _outward(threshold + reach, np.ceil))],
        "half_width": reach,
        "size": size,
        "share": size / n if n else float("nan"),
        "automated": n - size,
        "errors_in": errors_in,
        "errors_out": errors_out,
        "error_rate_in": rate(errors_in, size),
        "error_rate_out": rate(errors_out, n - size),
        "errors_caught_share": rate(errors_in, errors_in + errors_out),
    }


def review_queue(
    ids: pd.Series, proba: np.ndarray, y_true: np.ndarray, threshold: float, positions: np.ndarray, reasons: pd.DataFrame
) -> pd.DataFrame:
    """The rows to review, closest to the threshold first, with their reason codes."""
    proba = np.asarray(proba, dtype=float)[positions]
    queue = pd.DataFrame(
        {
            "row_id": ids.to_numpy()[positions],
            "probability": np.round(proba, 6),
            "decision": np.where(proba >= threshold, "positive", "negative"),
            "distance_to_threshold": np.round(np.abs(proba - threshold), 6),
            "actual": np.asarray(y_true)[positions],
        },
        index=ids.index[positions],
    )
    queue = queue.join(reasons.drop(columns=["margin"], errors="ignore"), how="left")
    return queue.sort_values("distance_to_threshold", kind="stable").reset_index(drop=True)


def error_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Rows, errors and error rate of the review queue beside the automated rows."""
    return pd.DataFrame(
        {
            "rows": [summary["size"], summary["automated"]],
            "errors": [summary["errors_in"], summary["errors_out"]],
            "error rate": [summary["error_rate_in"], summary["error_rate_out"]],
        },
        index=pd.Index(["review queue", "automated"], name="test rows"),
    )
