"""Roadmap phase, next-transition bottleneck, build-vs-buy guidance and budget split (roadmap.yaml)."""
from __future__ import annotations

from typing import Any

import pandas as pd

from kit.readiness import content


def roadmap_phase(level: int) -> dict[str, Any]:
    """The roadmap phase an organization at ``level`` is in, with its objective and actions."""
    for phase in content.roadmap_guide()["phases"]:
        if level in phase["levels"]:
            return {k: phase[k] for k in ("id", "name", "months", "objective", "actions")}
    raise ValueError(f"no roadmap phase covers level {level}; check kit/content/roadmap.yaml")


def next_transition(level: int) -> dict[str, Any] | None:
    """The bottleneck and advice for moving from ``level`` to the next (None at level 5)."""
    step = content.maturity_model()["transitions"].get(level)
    if step is None:
        return None
    return {"from": level, "to": level + 1, "bottleneck": step["bottleneck"], "advice": step["advice"].strip()}


def build_vs_buy(level: int, core_differentiator: bool, regulated: bool) -> dict[str, Any]:
    """Platform options that fit ``level`` and the decision rules that apply."""
    guide = content.roadmap_guide()["build_vs_buy"]
    options = [o for o in guide["options"] if o["levels"][0] <= level <= o["levels"][1]]
    rules = guide["rules"]
    applied = [rules["core_differentiator" if core_differentiator else "supports_operations"].strip()]
    if regulated:
        applied.append(rules["regulated"].strip())
    applied.append(rules["always"].strip())
    return {"options": [{k: o[k] for k in ("id", "name", "best_for", "watch_out")} for o in options],
            "guidance": applied}


def budget_split(amount: float) -> pd.DataFrame:
    """First-year budget by area: guidance shares (low, high) and the amounts they give."""
    rows = content.roadmap_guide()["budget"]["split"]
    table = pd.DataFrame(rows).set_index("id")
    shares = pd.DataFrame(table["share"].tolist(), index=table.index, columns=["share_low", "share_high"])
    table = table.drop(columns="share").join(shares)
    table["amount_low"] = table["share_low"] * amount
    table["amount_high"] = table["share_high"] * amount
    table["amount_mid"] = (table["amount_low"] + table["amount_high"]) / 2
    return table
