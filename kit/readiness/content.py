"""The readiness frameworks (kit/content/*.yaml) as small tables and id sets."""
from __future__ import annotations

from functools import cache
from typing import Any

import pandas as pd

from kit.content import load


def questionnaire() -> dict[str, Any]:
    """The readiness questionnaire content (pillars, rules, prerequisites, data checks)."""
    return load("readiness")


def maturity_model() -> dict[str, Any]:
    """The maturity model content (levels, capabilities, transitions)."""
    return load("maturity")


def team_guide() -> dict[str, Any]:
    """The team guidance content (roles, minimum headcount, ratio, topologies)."""
    return load("team")


def roadmap_guide() -> dict[str, Any]:
    """The roadmap content (phases, build vs buy, budget split)."""
    return load("roadmap")


@cache
def pillars() -> pd.DataFrame:
    """One row per pillar: id (index), name, summary, fix."""
    rows = [{k: p.get(k) for k in ("id", "name", "summary", "fix", "note")} for p in questionnaire()["pillars"]]
    return pd.DataFrame(rows).set_index("id")


@cache
def questions() -> pd.DataFrame:
    """One row per question: id (index), pillar, text and what answers 1, 3 and 5 look like."""
    rows = [
        {"id": q["id"], "pillar": p["id"], "text": q["text"],
         **{f"level_{k}": v for k, v in q["levels"].items()}}
        for p in questionnaire()["pillars"] for q in p["questions"]
    ]
    return pd.DataFrame(rows).set_index("id")


@cache
def red_flags() -> pd.DataFrame:
    """One row per red flag: id (index), pillar, text, fix."""
    rows = [{"id": f["id"], "pillar": p["id"], "text": f["text"], "fix": f["fix"]}
            for p in questionnaire()["pillars"] for f in p["red_flags"]]
    return pd.DataFrame(rows).set_index("id")


@cache
def practices() -> pd.DataFrame:
    """One row per practice (the manual tests of the ML Test Score): id (index), test, text."""
    return pd.DataFrame(questionnaire()["practices"]).set_index("id")


@cache
def prerequisites() -> pd.DataFrame:
    """One row per organizational prerequisite: id (index), name, pillar, text."""
    return pd.DataFrame(questionnaire()["prerequisites"]).set_index("id")


@cache
def capabilities() -> pd.DataFrame:
    """One row per capability: id (index), the level it characterizes, text."""
    model = maturity_model()
    level_of = {c: lv["level"] for lv in model["levels"] for c in lv["capabilities"]}
    rows = [{"id": c, "level": level_of.get(c), "text": t} for c, t in model["capabilities"].items()]
    return pd.DataFrame(rows).set_index("id")


@cache
def levels() -> pd.DataFrame:
    """One row per maturity level (index 1-5): name, alias, team size, time to next, min pillar."""
    rows = [{k: lv[k] for k in ("level", "name", "alias", "characteristics", "team_note",
                                 "time_to_next", "min_pillar")}
            | {"team_min": lv["team_size"][0], "team_max": lv["team_size"][1],
               "n_capabilities": len(lv["capabilities"])}
            for lv in maturity_model()["levels"]]
    return pd.DataFrame(rows).set_index("level")


@cache
def roles() -> pd.DataFrame:
    """One row per team role: id (index), name, from_level, critical, does."""
    return pd.DataFrame(team_guide()["roles"]).set_index("id")


def level_label(level: int | None) -> str:
    """'2 (Repeatable)' for a level number, 'not declared' for None."""
    if level is None:
        return "not declared"
    return f"{level} ({levels().loc[level, 'name']})"
