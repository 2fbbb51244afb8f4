"""Team assessment: headcount by role against level needs, DS:MLE ratio, recommended topology."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from kit.readiness import content


@dataclass(frozen=True)
class TeamAssessment:
    """Headcount table, ratio check and topology advice for one level."""

    table: pd.DataFrame
    total: int
    typical_size: tuple[int, int | None]
    ratio: float | None
    ratio_guidance: float
    ratio_status: str
    ratio_message: str
    topologies: list[dict[str, Any]]
    answered: bool


def headcount_table(team: Mapping[str, int], level: int) -> pd.DataFrame:
    """Per role: headcount, minimum needed at ``level`` and at the next level, and the gaps."""
    needs = content.team_guide()["minimum_headcount"]
    table = content.roles()[["name", "from_level", "critical"]].copy()
    table["headcount"] = pd.Series(dict(team), dtype="int64").reindex(table.index).fillna(0).astype(int)
    table["needed_now"] = pd.Series(needs[level]).reindex(table.index).fillna(0).astype(int)
    table["needed_next"] = pd.Series(needs[min(level + 1, 5)]).reindex(table.index).fillna(0).astype(int)
    table["gap_now"] = (table["needed_now"] - table["headcount"]).clip(lower=0)
    table["gap_next"] = (table["needed_next"] - table["headcount"]).clip(lower=0)
    table.index.name = "role"
    return table


def ds_mle_ratio(data_scientists: int, ml_engineers: int, level: int) -> tuple[float | None, float, str, str]:
    """Actual DS:MLE ratio, the level's guidance, a status and a message."""
    spec = content.team_guide()["ds_mle_ratio"]
    guidance = float(spec["guidance"][level])
    tol = float(spec["tolerance"])
    target = f"{guidance:g}:1 at level {level}"
    if data_scientists == 0 and ml_engineers == 0:
        return None, guidance, "no team", f"No data scientists or ML engineers yet; the guidance is {target}."
    if ml_engineers == 0:
        return None, guidance, "no ML engineers", (
            f"{data_scientists} data scientist(s) and no ML engineer: models will stay notebooks. "
            f"The guidance is {target}.")
    ratio = data_scientists / ml_engineers
    if ratio > guidance * (1 + tol):
        status = "too few ML engineers"
    elif ratio < guidance * (1 - tol):
        status = "too few data scientists"
    else:
        status = "within guidance"
    return ratio, guidance, status, f"Data scientists per ML engineer: {ratio:.1f}:1, {status} (guidance {target})."


def topologies_for(level: int) -> list[dict[str, Any]]:
    """Team topologies suited to ``level`` and to the next level, each marked 'now' or 'next'."""
    found = []
    for topo in content.team_guide()["topologies"]:
        low, high = topo["levels"]
        when = "now" if low <= level <= high else "next" if low <= level + 1 <= high else None
        if when:
            found.append({"id": topo["id"], "name": topo["name"], "when": when, "text": topo["text"]})
    return found


def assess_team(team: Mapping[str, int], level: int) -> TeamAssessment:
    """Assess headcount, ratio and topology of a team for an organization at ``level``."""
    table = headcount_table(team, level)
    ratio, guidance, status, message = ds_mle_ratio(
        int(table.loc["data_scientist", "headcount"]), int(table.loc["ml_engineer", "headcount"]), level)
    lv = content.levels().loc[level]
    high = None if pd.isna(lv["team_max"]) else int(lv["team_max"])
    return TeamAssessment(
        table=table, total=int(table["headcount"].sum()), typical_size=(int(lv["team_min"]), high),
        ratio=ratio, ratio_guidance=guidance, ratio_status=status, ratio_message=message,
        topologies=topologies_for(level), answered=bool(team),
    )
