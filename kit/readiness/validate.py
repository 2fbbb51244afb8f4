"""Checks of a readiness config section against the content files (run at config load)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from kit.errors import did_you_mean
from kit.readiness import content


def unknown_ids(key: str, given: Iterable[str], valid: Iterable[str], what: str) -> list[str]:
    """'key.id: unknown <what> id; did you mean ...' for every id not in ``valid``."""
    valid = list(valid)
    problems = []
    for item in given:
        if item not in valid:
            hint = did_you_mean(item, valid) or f"; valid ids: {', '.join(valid)}"
            problems.append(f"{key}.{item}: unknown {what} id{hint}")
    return problems


def answer_range_problems(answers: dict[str, int]) -> list[str]:
    """'answers.id: N is out of range' for every answer outside the scale."""
    scale = content.questionnaire()["scale"]
    low, high = scale["min"], scale["max"]
    return [
        f"answers.{qid}: {value} is out of range; answer {low} ({scale['labels'][low]}) "
        f"to {high} ({scale['labels'][high]}), or leave the question out if unknown"
        for qid, value in answers.items() if not low <= value <= high
    ]


def missing_pillar_problems(answers: dict[str, int]) -> list[str]:
    """One line per pillar without any answered question (only when some answers are given)."""
    if not answers:
        return []
    questions = content.questions()
    answered = set(questions.loc[questions.index.intersection(list(answers)), "pillar"])
    problems = []
    for pillar_id, row in content.pillars().iterrows():
        if pillar_id not in answered:
            ids = ", ".join(questions.index[questions["pillar"] == pillar_id])
            problems.append(
                f"answers: pillar '{pillar_id}' ({row['name']}) has no answered question; "
                f"answer at least one of {ids}"
            )
    return problems


def headcount_problems(team: dict[str, int]) -> list[str]:
    """'team.role: negative headcount' for every headcount below zero."""
    return [f"team.{role}: headcount {n} is negative; give the number of people (0 or more)"
            for role, n in team.items() if n < 0]


def as_of_problems(as_of: str | None) -> list[str]:
    """A line when ``as_of`` is not an ISO date."""
    if as_of is None:
        return []
    try:
        dt.date.fromisoformat(str(as_of))
    except ValueError:
        return [f"as_of: {as_of!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-11-01"]
    return []


def earlier_run_problems(earlier: Any) -> list[str]:
    """A line when ``earlier_run`` exists but is not a kit report folder (a missing one is a first run)."""
    if earlier is None or not earlier.exists():
        return []
    from kit.manifest import is_kit_report

    if not earlier.is_dir() or not is_kit_report(earlier):
        return [f"earlier_run: {earlier} is not a kit report folder (no kit manifest.json); point it at the "
                "report folder of an earlier run of this config, e.g. ../../reports/demo"]
    return []


def check_section(section: Any) -> list[str]:
    """Every problem of a ReadinessSection, each naming the key and the fix."""
    problems = unknown_ids("answers", section.answers, content.questions().index, "question")
    problems += unknown_ids("red_flags", section.red_flags, content.red_flags().index, "red flag")
    problems += unknown_ids("prerequisites", section.prerequisites, content.prerequisites().index, "prerequisite")
    problems += unknown_ids("capabilities", section.capabilities, content.capabilities().index, "capability")
    problems += unknown_ids("team", section.team, content.roles().index, "role")
    problems += unknown_ids("practices", section.practices, content.practices().index, "practice")
    problems += earlier_run_problems(section.earlier_run)
    known = {q: v for q, v in section.answers.items() if q in content.questions().index}
    problems += answer_range_problems(known)
    problems += missing_pillar_problems(known)
    problems += headcount_problems(section.team)
    problems += as_of_problems(section.as_of)
    return problems
