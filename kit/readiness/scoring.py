"""Pillar scores from answers, the red-flag cap and the blocker rule (rules in readiness.yaml)."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from kit.readiness import content


def answer_table(answers: Mapping[str, int]) -> pd.DataFrame:
    """Every question with its pillar and answer (missing answers are <NA>, never scored)."""
    table = content.questions()[["pillar", "text"]].copy()
    table["answer"] = pd.Series(dict(answers), dtype="Int64").reindex(table.index)
    return table


def flag_table(raised: Mapping[str, bool]) -> pd.DataFrame:
    """Every red flag with its pillar and state: True raised, False not raised, <NA> not answered."""
    table = content.red_flags()[["pillar", "text", "fix"]].copy()
    table["raised"] = pd.Series(dict(raised), dtype="boolean").reindex(table.index)
    return table


def red_flag_cap(n_flags: pd.Series | np.ndarray) -> np.ndarray:
    """The cap each pillar gets from its number of raised red flags (inf when none applies)."""
    rows = sorted(content.questionnaire()["rules"]["red_flag_caps"], key=lambda r: r["min_flags"])
    thresholds = np.array([r["min_flags"] for r in rows])
    caps = np.array([float(r["cap"]) for r in rows])
    idx = np.searchsorted(thresholds, np.asarray(n_flags), side="right") - 1
    return np.where(idx >= 0, caps[np.clip(idx, 0, None)], np.inf)


def pillar_scores(answers: Mapping[str, int], raised: Mapping[str, bool],
                  evidence_caps: Mapping[str, float] | None = None) -> pd.DataFrame:
    """One row per pillar: answered/unanswered counts, mean answer, raised flags, caps, score, blocker.

    ``evidence_caps`` caps pillars from evidence (the process pillar from an ML Test Score).
    """
    rules = content.questionnaire()["rules"]
    answered = answer_table(answers)
    flags = flag_table(raised)
    by_pillar = answered.groupby("pillar", sort=False)["answer"]
    table = content.pillars()[["name"]].copy()
    table["questions"] = by_pillar.size().reindex(table.index).fillna(0).astype(int)
    table["answered"] = by_pillar.count().reindex(table.index).fillna(0).astype(int)
    table["unanswered"] = table["questions"] - table["answered"]
    table["mean_answer"] = by_pillar.mean().astype(float).reindex(table.index)
    table["flags_raised"] = (flags.groupby("pillar")["raised"].sum().reindex(table.index)
                             .fillna(0).astype(int))
    table["evidence_cap"] = pd.Series(dict(evidence_caps or {}), dtype=float).reindex(table.index).fillna(np.inf)
    table["cap"] = np.minimum(red_flag_cap(table["flags_raised"]), table["evidence_cap"])
    table["score"] = np.minimum(table["mean_answer"], table["cap"]).round(rules["decimals"])
    table["capped"] = table["mean_answer"] > table["cap"]
    table["blocker"] = table["score"] < rules["blocker_below"]
    table.index.name = "pillar"
    return table


def scores_map(table: pd.DataFrame) -> dict[str, float | None]:
    """{pillar_id: score} with None for an unscored pillar."""
    return {p: (None if pd.isna(s) else float(s)) for p, s in table["score"].items()}


def blockers(table: pd.DataFrame) -> list[dict[str, object]]:
    """Pillars below the blocker line, weakest first, each with what to fix."""
    fixes = content.pillars()["fix"]
    hit = table[table["blocker"]].sort_values("score")
    return [{"pillar": p, "name": row["name"], "score": float(row["score"]),
             "fix": fixes[p].strip()} for p, row in hit.iterrows()]


def weakest_pillar(table: pd.DataFrame) -> str | None:
    """Id of the lowest-scoring scored pillar (first in content order on ties), None if none scored."""
    scored = table["score"].dropna()
    return None if scored.empty else str(scored.idxmin())
