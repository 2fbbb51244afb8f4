"""Interactive weight sliders that re-rank the portfolio and redraw (imported only when interactive)."""
from __future__ import annotations

from typing import Any

import ipywidgets as w
import pandas as pd
from IPython.display import display

from kit import escape
from kit.errors import KitError
from kit.use_cases import display as show
from kit.use_cases.phase import rank_portfolio
from kit.use_cases.portfolio import Portfolio, resolve_weights, rules
from kit.use_cases.scoring import Readiness


class WeightExplorer:
    """One slider per criterion weight; every change re-ranks the portfolio and redraws the views."""

    def __init__(self, portfolio: Portfolio, readiness: Readiness, config: Any, weights: dict[str, dict[str, float]]) -> None:
        """Build the sliders from ``weights`` and draw the first ranking."""
        self.portfolio, self.readiness, self.config = portfolio, readiness, config
        crit = rules()["criteria"]
        self.sliders = {
            (group, name): w.FloatSlider(
                value=weight, min=0.0, max=1.0, step=0.05, description=crit[group][name]["label"][:28],
                style={"description_width": "200px"}, layout=w.Layout(width="460px"), continuous_update=False,
            )
            for group, ws in weights.items() for name, weight in ws.items()
        }
        self.message = w.HTML()
        self.output = w.Output()
        self.ranking: pd.DataFrame | None = None
        for slider in self.sliders.values():
            slider.observe(self.on_change, names="value")
        self.refresh()

    def weights(self) -> dict[str, dict[str, float]]:
        """The weights the sliders currently show, by group."""
        out: dict[str, dict[str, float]] = {}
        for (group, name), slider in self.sliders.items():
            out.setdefault(group, {})[name] = float(slider.value)
        return out

    def rerank(self) -> pd.DataFrame:
        """Rank the portfolio under the slider weights (raises a KitError for unusable weights)."""
        return rank_portfolio(self.portfolio, resolve_weights(self.weights()), self.readiness, self.config)

    def refresh(self) -> None:
        """Re-rank and redraw; unusable weights (a group summing to zero) show a message instead."""
        try:
            self.ranking = self.rerank()
        except KitError as exc:
            self.message.value = f"<b>Cannot rank:</b> {escape.html(exc)}"
            return
        top = self.ranking.iloc[0]
        self.message.value = f"Top use case: <b>{escape.html(top['name'])}</b> ({escape.html(top['quadrant'])})"
        self.output.clear_output(wait=True)
        with self.output:
            display(show.ranked_table(self.ranking), show.bubble_chart(self.ranking, str(top["name"])))

    def on_change(self, change: dict[str, Any]) -> None:
        """Slider callback: re-rank and redraw."""
        self.refresh()

    def view(self) -> w.Widget:
        """The sliders (value and feasibility side by side), a status line and the live views."""
        groups = [
            w.VBox([w.HTML(f"<b>{g} weights</b>")] + [s for (grp, _), s in self.sliders.items() if grp == g])
            for g in dict.fromkeys(g for g, _ in self.sliders)
        ]
        return w.VBox([w.HBox(groups), self.message, self.output])


def weight_explorer(portfolio: Portfolio, readiness: Readiness, config: Any, weights: dict[str, dict[str, float]]) -> w.Widget:
    """Weight sliders that re-rank and redraw live (JupyterLab)."""
    return WeightExplorer(portfolio, readiness, config, weights).view()
