"""Maturity level from evidence: capability coverage per level, held down by pillar scores."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kit.readiness import content


@dataclass(frozen=True)
class MaturityEstimate:
    """Estimated level, the two limits it comes from, and the comparison with a declared level."""

    level: int
    capability_level: int
    pillar_level: int
    limited_by: str
    coverage: pd.DataFrame
    declared: int | None
    gap: int | None
    status: str
    message: str


def capability_coverage(present: Mapping[str, bool]) -> pd.DataFrame:
    """Per level 2-5: capabilities present, total, share, whether the share rule is met and the level reached."""
    caps = content.capabilities().copy()
    caps["present"] = pd.Series(dict(present), dtype="boolean").reindex(caps.index).fillna(False).astype(bool)
    grouped = caps.groupby("level")["present"]
    table = pd.DataFrame({"present": grouped.sum().astype(int), "total": grouped.size()})
    table["share"] = table["present"] / table["total"]
    table["meets_share"] = table["share"] >= content.maturity_model()["rules"]["min_share"]
    table["reached"] = table["meets_share"].cumprod().astype(bool)
    absent = caps.index.to_series()[~caps["present"]]
    missing = absent.groupby(caps.loc[absent.index, "level"]).agg(list)
    table["missing"] = [missing.get(level, []) for level in table.index]
    return table


def capability_level(coverage: pd.DataFrame) -> int:
    """1 plus the number of consecutive levels reached from level 2."""
    return 1 + int(coverage["reached"].sum())


def pillar_level(scores: pd.Series) -> int:
    """Highest level whose minimum pillar score the weakest scored pillar reaches (5 if none scored)."""
    scored = scores.dropna()
    if scored.empty:
        return 5
    minimum = content.levels()["min_pillar"].fillna(-np.inf)
    return int(minimum.index[minimum <= scored.min()].max())


def compare_declared(declared: int | None, estimated: int) -> tuple[str, str]:
    """Status ('agrees', 'overestimated', 'underestimated', 'not declared') and a plain message."""
    est = content.level_label(estimated)
    if declared is None:
        return "not declared", f"Estimated from evidence: level {est}. No self-assessed level was declared."
    gap = declared - estimated
    dec = content.level_label(declared)
    if gap > 0:
        note = content.maturity_model()["rules"]["overestimate_note"].strip()
        step = "one level" if gap == 1 else f"{gap} levels"
        return "overestimated", (f"The self-assessment, level {dec}, is {step} above the evidence, "
                                 f"level {est}. {note}")
    if gap < 0:
        return "underestimated", (f"The evidence, level {est}, is above the self-assessment, "
                                  f"level {dec}: you may be further along than you think.")
    return "agrees", f"The self-assessment agrees with the evidence: level {est}."


def estimate_level(present: Mapping[str, bool], scores: pd.Series, declared: int | None = None) -> MaturityEstimate:
    """Estimate the maturity level from capabilities and pillar scores; compare with a declared level."""
    coverage = capability_coverage(present)
    by_caps = capability_level(coverage)
    by_pillars = pillar_level(scores)
    level = min(by_caps, by_pillars)
    limited_by = "pillars" if by_pillars < by_caps else "capabilities"
    status, message = compare_declared(declared, level)
    return MaturityEstimate(
        level=level, capability_level=by_caps, pillar_level=by_pillars, limited_by=limited_by,
        coverage=coverage, declared=declared, gap=None if declared is None else declared - level,
        status=status, message=message,
    )
