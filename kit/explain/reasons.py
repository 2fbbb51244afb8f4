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


def reason_text(table: pd.DataFrame, top_k: int) -> pd.Series:
    """One readable sentence per row, e.g. 'Contract=Month-to-month raises (+0.61); ...'."""
    parts = [
        table[f"reason_{j}"].astype(str)
        + "="
        + table[f"reason_{j}_value"].astype(str)
        + " "
        + table[f"reason_{j}_direction"].astype(str)
        + " ("
        + table[f"reason_{j}_shap"].map("{:+.3f}".format)
        + ")"
        for j in range(1, top_k + 1)
        if f"reason_{j}" in table
    ]
    text = parts[0]
    for part in parts[1:]:
        text = text + "; " + part
    return text.rename("reasons")
