"""Reason codes: the top contributing features of each row, with their direction (vectorized)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from kit.explain.shapley import Contributions

RAISES, LOWERS = "raises", "lowers"


def reason_codes(contribs: Contributions, X: pd.DataFrame, top_k: int = 3) -> pd.DataFrame:
    """For each row: the ``top_k`` features by |SHAP|, their value, contribution and direction."""
    values = contribs.values.to_numpy()
    k = min(top_k, values.shape[1])
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]
    names = np.asarray(contribs.values.columns, dtype=object)[order]
    shap_top = np.take_along_axis(values, order, axis=1)
    raw = X.loc[contribs.values.index, list(contribs.values.columns)].astype(object).to_numpy()
    shown = np.take_along_axis(raw, order, axis=1)
    direction = np.where(shap_top > 0, RAISES, np.where(shap_top < 0, LOWERS, "neutral"))
    columns: dict[str, np.ndarray] = {}
    for j in range(k):  # one block of columns per reason rank (k is small), never per row
        columns[f"reason_{j + 1}"] = names[:, j]
        columns[f"reason_{j + 1}_value"] = shown[:, j]
        columns[f"reason_{j + 1}_shap"] = np.round(shap_top[:, j], 6)
        columns[f"reason_{j + 1}_direction"] = direction[:, j]
    table = pd.DataFrame(columns, index=contribs.values.index)
    table.insert(0, "margin", np.round(contribs.margin, 6))
    return table


def reason_text(table: pd.DataFrame, top_k: int, unit: str | None = None) -> pd.Series:
    """One readable sentence per row: 'Contract=Month-to-month raises (+0.61); ...', or in the target's
    units for a regression model (``unit`` names them): '+12.3 cnt because hr=17; ...'."""
    if unit is not None:
        return _unit_text(table, top_k, unit)
    parts = [
        table[f"reason_{j}"].astype(str)
        + "="
        + _shown(table[f"reason_{j}_value"])
        + " "
        + table[f"reason_{j}_direction"].astype(str)
        + " ("
        + table[f"reason_{j}_shap"].map("{:+.3f}".format)
        + ")"
        for j in range(1, top_k + 1)
        if f"reason_{j}" in table
    ]
    return _joined(parts)


def signed_amount(value: float) -> str:
    """A contribution in the target's units with three significant digits and its sign: +12.3, -0.0452, +1,234."""
    if value == 0 or not np.isfinite(value):
        return f"{value:+.0f}" if value == 0 else str(value)
    decimals = max(0, 2 - int(np.floor(np.log10(abs(value)))))
    return f"{value:+,.{decimals}f}"


def _unit_text(table: pd.DataFrame, top_k: int, unit: str) -> pd.Series:
    """Reasons in the target's units: '+12.3 cnt because hr=17'."""
    parts = [
        table[f"reason_{j}_shap"].map(signed_amount) + f" {unit} because "
        + table[f"reason_{j}"].astype(str) + "=" + _shown(table[f"reason_{j}_value"])
        for j in range(1, top_k + 1)
        if f"reason_{j}" in table
    ]
    return _joined(parts)


def _shown(values: pd.Series) -> pd.Series:
    """Feature values as text, a missing value as 'missing' (text concatenation would otherwise drop the whole reason)."""
    return values.astype(object).where(values.notna(), "missing").astype(str)


def _joined(parts: list[pd.Series]) -> pd.Series:
    """The per-reason texts of each row joined with '; '."""
    text = parts[0]
    for part in parts[1:]:
        text = text + "; " + part
    return text.rename("reasons")
