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


# ---- regression and multiclass: uncertainty other than the distance to a threshold -------------------------
def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """Split-conformal quantile: the ceil((n+1)·coverage)-th smallest calibration score (infinite when n is too small)."""
    scores = np.sort(np.asarray(scores, dtype=float))
    rank = int(np.ceil((len(scores) + 1) * coverage))
    return float(scores[rank - 1]) if rank <= len(scores) else float("inf")


def scale_model(X: pd.DataFrame, abs_residuals: np.ndarray, seed: int) -> Any:
    """A small seeded LightGBM model of the absolute residual (how hard each row is), fitted on half the validation rows."""
    import lightgbm as lgb

    rules = content.load("explain")["review"]["conformal"]
    params = {**rules["scale_model"], "objective": "regression", "seed": seed, "deterministic": True,
              "num_threads": 1, "verbose": -1}
    rounds = int(params.pop("rounds"))
    safe = X.set_axis([f"f{i}" for i in range(X.shape[1])], axis=1)
    return lgb.train(params, lgb.Dataset(safe, np.asarray(abs_residuals, dtype=float)), rounds)


def predicted_scale(model: Any, X: pd.DataFrame, floor: float) -> np.ndarray:
    """The scale model's difficulty per row, never below ``floor`` (so no interval collapses to a point)."""
    if model is None:
        return np.ones(len(X))
    safe = X.set_axis([f"f{i}" for i in range(X.shape[1])], axis=1)
    return np.maximum(np.asarray(model.predict(safe, num_threads=1), dtype=float), floor)


def calibrate_intervals(X_valid: pd.DataFrame, residuals: np.ndarray, coverage: float, seed: int) -> dict[str, Any]:
    """Locally weighted split conformal on the validation residuals: half fits the scale, half calibrates.

    With fewer validation rows than ``min_rows_adaptive`` (kit/content/explain.yaml) every row gets the same
    width (plain split conformal on all of them); the coverage guarantee holds either way.
    """
    rules = content.load("explain")["review"]["conformal"]
    residuals = np.abs(np.asarray(residuals, dtype=float))
    n = len(residuals)
    if n < rules["min_rows"]:
        raise DataError(f"{n} validation rows are too few for a {coverage:.0%} prediction interval (needs "
                        f"{rules['min_rows']}); give training a larger validation split")
    if n < rules["min_rows_adaptive"]:
        return {"model": None, "floor": 1.0, "q": conformal_quantile(residuals, coverage), "coverage": coverage,
                "calibration_rows": n, "method": "split conformal, one width for every row (few validation rows)"}
    order = np.random.default_rng(seed).permutation(n)
    fit, cal = order[: n // 2], order[n // 2:]
    floor = max(float(np.quantile(residuals[fit], rules["scale_floor_quantile"])), 1e-9)
    model = scale_model(X_valid.iloc[fit], residuals[fit], seed)
    scores = residuals[cal] / predicted_scale(model, X_valid.iloc[cal], floor)
    return {"model": model, "floor": floor, "q": conformal_quantile(scores, coverage), "coverage": coverage,
            "calibration_rows": len(cal), "method": "locally weighted split conformal (|residual| / modelled difficulty)"}


def prediction_intervals(calibration: dict[str, Any], X: pd.DataFrame, prediction: np.ndarray) -> pd.DataFrame:
    """Lower and upper limits and width of each row's interval: prediction ± q × difficulty."""
    half = calibration["q"] * predicted_scale(calibration["model"], X, calibration["floor"])
    prediction = np.asarray(prediction, dtype=float)
    return pd.DataFrame({"prediction": prediction, "low": prediction - half, "high": prediction + half, "width": 2 * half},
                        index=X.index)


def interval_coverage(intervals: pd.DataFrame, y_true: np.ndarray) -> float:
    """Share of rows whose actual value lies inside their interval."""
    y = np.asarray(y_true, dtype=float)
    return float(np.mean((y >= intervals["low"].to_numpy()) & (y <= intervals["high"].to_numpy())))


def top_two_margin(proba: np.ndarray) -> np.ndarray:
    """Probability of the predicted class minus that of the runner-up, per row (small: the model hesitates)."""
    top = np.sort(np.asarray(proba, dtype=float), axis=1)[:, -2:]
    return top[:, 1] - top[:, 0]


def uncertain_positions(uncertainty: np.ndarray, size: int) -> np.ndarray:
    """Positions of the ``size`` most uncertain rows (largest ``uncertainty`` first, ties by position)."""
    return np.argsort(-np.asarray(uncertainty, dtype=float), kind="stable")[:size]


def ranked_curve(uncertainty: np.ndarray, error: np.ndarray, shares: np.ndarray) -> pd.DataFrame:
    """Mean error inside and outside a queue of the most uncertain rows, for each queue share (cumulative sums, no loops)."""
    error = np.asarray(error, dtype=float)
    order = np.argsort(-np.asarray(uncertainty, dtype=float), kind="stable")
    cum = np.concatenate([[0.0], np.cumsum(error[order])])
    n, total = len(error), error.sum()
    inside = np.array([queue_size(s, n) if s > 0 else 0 for s in np.asarray(shares, dtype=float)], dtype=int)
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame({
            "queue_share": inside / max(n, 1), "queue_size": inside,
            "error_in": np.where(inside > 0, cum[inside] / inside, np.nan),
            "error_out": np.where(n - inside > 0, (total - cum[inside]) / (n - inside), np.nan),
            "error_caught_share": cum[inside] / total if total else np.nan,
        })


def default_shares(chosen: float, steps: int = 21) -> np.ndarray:
    """Queue shares from 0 to the larger of 0.3 and twice the chosen one, including the chosen one."""
    return np.unique(np.append(np.linspace(0.0, max(0.3, 2 * chosen), steps), chosen).clip(0, 1))


def ranked_summary(error: np.ndarray, positions: np.ndarray, what: str) -> dict[str, Any]:
    """Size and share of the queue and the mean ``error`` inside and outside it (``what`` names the error)."""
    error = np.asarray(error, dtype=float)
    queued = np.zeros(len(error), dtype=bool)
    queued[positions] = True
    n, size = len(error), int(queued.sum())
    mean = lambda mask: float(error[mask].mean()) if mask.any() else float("nan")  # noqa: E731
    return {"size": size, "share": size / n if n else float("nan"), "automated": n - size, "error": what,
            "error_in": mean(queued), "error_out": mean(~queued),
            "error_caught_share": float(error[queued].sum() / error.sum()) if error.sum() else float("nan")}
