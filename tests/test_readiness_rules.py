"""Table-driven tests of every readiness rule against the facts in FRAMEWORK.md."""
from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.readiness import content
from kit.readiness.maturity import capability_coverage, compare_declared, estimate_level, pillar_level
from kit.readiness.roadmap import budget_split, build_vs_buy, next_transition, roadmap_phase
from kit.readiness.scoring import blockers, pillar_scores, red_flag_cap, scores_map, weakest_pillar
from kit.readiness.team import assess_team, ds_mle_ratio, topologies_for

QUESTIONS = content.questions()
ALL = {q: 3 for q in QUESTIONS.index}


def answers(**per_pillar: list[int]) -> dict[str, int]:
    """Answer the first questions of each named pillar with the given values, others with 3."""
    out = dict(ALL)
    for pillar, values in per_pillar.items():
        ids = QUESTIONS.index[QUESTIONS["pillar"] == pillar]
        out.update(dict(zip(ids, values)))
    return out


# --- pillar score and red-flag cap -------------------------------------------------------------

@pytest.mark.parametrize("n_flags, cap", [(0, math.inf), (1, 2.0), (2, 2.0), (3, 1.5), (4, 1.5)])
def test_red_flag_cap_table(n_flags: int, cap: float) -> None:
    assert red_flag_cap([n_flags])[0] == cap


@pytest.mark.parametrize("data_answers, flags, expected", [
    ([5, 5, 5, 5, 5, 5], {}, 5.0),                                   # no flag: plain mean
    ([5, 5, 5, 5, 5, 5], {"data_silos": True}, 2.0),                  # one flag caps at 2
    ([5, 5, 5, 5, 5, 5], {"data_silos": False}, 5.0),                 # a flag set false is no flag
    ([1, 2, 1, 2, 1, 2], {"data_silos": True}, 1.5),                  # cap never raises a score
    ([5, 5, 5, 5, 5, 5], {"data_silos": True, "no_data_catalog": True, "manual_csv_exports": True}, 1.5),
    ([4, 3, 2, 4, 3, 2], {"no_gpu_access": True}, 3.0),               # a flag elsewhere does not cap data
])
def test_pillar_score_and_cap(data_answers: list[int], flags: dict[str, bool], expected: float) -> None:
    table = pillar_scores(answers(data=data_answers), flags)
    assert table.loc["data", "score"] == expected


def test_unanswered_questions_are_not_scored() -> None:
    given_ = {"data_access": 4, "data_catalog": 2, "infra_compute": 1, "process_workflow": 3, "org_leadership": 5}
    table = pillar_scores(given_, {})
    assert table.loc["data", "score"] == 3.0  # mean of 4 and 2, not of six answers
    assert table.loc["data", "answered"] == 2
    assert table.loc["data", "unanswered"] == 4
    assert table["questions"].sum() == len(QUESTIONS)


def test_pillar_with_no_answer_is_unscored_not_zero() -> None:
    table = pillar_scores({"data_access": 4}, {"no_gpu_access": True})
    assert scores_map(table) == {"data": 4.0, "infrastructure": None, "process": None, "organization": None}
    assert not table["blocker"].any()


# --- blocker rule: any pillar below 2 (FRAMEWORK: "any pillar below 2 is a blocker") ---------

@pytest.mark.parametrize("values, is_blocker", [([1], True), ([1, 2], True), ([2], False), ([2, 2], False), ([5], False)])
def test_blocker_rule(values: list[int], is_blocker: bool) -> None:
    ids = QUESTIONS.index[QUESTIONS["pillar"] == "process"]
    given_ = {q: 3 for q in QUESTIONS.index if q not in ids} | dict(zip(ids, values))
    table = pillar_scores(given_, {})
    assert bool(table.loc["process", "blocker"]) is is_blocker
    assert [b["pillar"] for b in blockers(table)] == (["process"] if is_blocker else [])


def test_blockers_weakest_first_with_fix() -> None:
    table = pillar_scores(answers(data=[1] * 6, process=[1, 2, 2, 2, 2]), {})
    found = blockers(table)
    assert [b["pillar"] for b in found] == ["data", "process"]
    assert found[0]["fix"] == content.pillars().loc["data", "fix"].strip()
    assert weakest_pillar(table) == "data"


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(list(QUESTIONS.index)), st.integers(1, 5), min_size=1),
       st.dictionaries(st.sampled_from(list(content.red_flags().index)), st.booleans()))
def test_score_properties(given_: dict[str, int], flags: dict[str, bool]) -> None:
    table = pillar_scores(given_, flags)
    scored = table["score"].dropna()
    assert ((scored >= 1) & (scored <= 5)).all()
    assert (table["score"].dropna() <= table["mean_answer"].dropna() + 0.005).all()  # rounded to 2 decimals
    raised = pd.Series(flags, dtype=bool).reindex(content.red_flags().index).fillna(False)
    flagged = set(content.red_flags().loc[raised[raised].index, "pillar"])
    assert all(table.loc[p, "score"] <= 2.0 for p in flagged if not pd.isna(table.loc[p, "score"]))


# --- maturity level from capabilities, held down by pillars -----------------------------------

LEVEL_CAPS = {lv: content.maturity_model()["levels"][lv - 1]["capabilities"] for lv in range(1, 6)}


def caps_upto(level: int, extra: tuple[str, ...] = ()) -> dict[str, bool]:
    """All capabilities of levels 2..level, plus extras."""
    return {c: True for lv in range(2, level + 1) for c in LEVEL_CAPS[lv]} | {c: True for c in extra}


GOOD = pd.Series({"data": 4.5, "infrastructure": 4.5, "process": 4.5, "organization": 4.5})


@pytest.mark.parametrize("present, expected", [
    ({}, 1),
    (caps_upto(2), 2),
    ({c: True for c in LEVEL_CAPS[2][:2]}, 1),               # 2 of 4 = 50%, below the 60% rule
    ({c: True for c in LEVEL_CAPS[2][:3]}, 2),               # 3 of 4 = 75%: most of them
    (caps_upto(3), 3),
    (caps_upto(5), 5),
    ({c: True for c in LEVEL_CAPS[3] + LEVEL_CAPS[4]}, 1),   # level 3-4 tools without level 2 basics
    (caps_upto(2, tuple(LEVEL_CAPS[3][:3])), 2),             # 3 of 6 level-3 capabilities: not yet
    (caps_upto(2, tuple(LEVEL_CAPS[3][:4])), 3),             # 4 of 6: reached
])
def test_level_from_capabilities(present: dict[str, bool], expected: int) -> None:
    assert estimate_level(present, GOOD).level == expected


@pytest.mark.parametrize("weakest, expected", [(1.5, 1), (2.0, 2), (2.9, 2), (3.0, 3), (3.4, 3), (3.5, 4), (4.0, 5)])
def test_pillar_scores_hold_the_level_down(weakest: float, expected: int) -> None:
    scores = GOOD.copy()
    scores["process"] = weakest
    assert pillar_level(scores) == expected
    est = estimate_level(caps_upto(5), scores)
    assert est.level == expected
    assert est.limited_by == ("pillars" if expected < 5 else "capabilities")


def test_unscored_pillars_do_not_hold_down() -> None:
    assert pillar_level(pd.Series({"data": None, "process": 3.2}, dtype=float)) == 3
    assert pillar_level(pd.Series({"data": None}, dtype=float)) == 5


def test_coverage_counts() -> None:
    cov = capability_coverage(caps_upto(2, ("feature_store",)))
    assert cov.loc[2, "present"] == 4 and cov.loc[2, "total"] == 4
    assert cov.loc[3, "present"] == 1 and cov.loc[3, "share"] == pytest.approx(1 / 6)
    assert "feature_store" not in cov.loc[3, "missing"]


@pytest.mark.parametrize("declared, estimated, status", [
    (3, 2, "overestimated"), (4, 1, "overestimated"), (2, 2, "agrees"), (1, 3, "underestimated"), (None, 2, "not declared"),
])
def test_declared_vs_estimated(declared: int | None, estimated: int, status: str) -> None:
    got, message = compare_declared(declared, estimated)
    assert got == status
    if status == "overestimated":
        assert "above the evidence" in message and "overestimate" in message
        assert ("is one level above" in message) == (declared - estimated == 1)


# --- team: FRAMEWORK ratios 1:1 at 1-2, 2:1 at 3-4, 3:1 at 5 ----------------------------------

@pytest.mark.parametrize("level, guidance", [(1, 1.0), (2, 1.0), (3, 2.0), (4, 2.0), (5, 3.0)])
def test_ratio_guidance(level: int, guidance: float) -> None:
    assert ds_mle_ratio(guidance * 2, 2, level)[1:3] == (guidance, "within guidance")


@pytest.mark.parametrize("ds, mle, level, status", [
    (2, 2, 2, "within guidance"), (3, 2, 2, "within guidance"), (4, 2, 2, "too few ML engineers"),
    (1, 4, 3, "too few data scientists"), (6, 2, 5, "within guidance"), (10, 0, 1, "no ML engineers"),
    (0, 0, 2, "no team"),
])
def test_ratio_status(ds: int, mle: int, level: int, status: str) -> None:
    ratio, _, got, message = ds_mle_ratio(ds, mle, level)
    assert got == status
    assert ratio == (ds / mle if mle else None)


@pytest.mark.parametrize("level, now", [
    (1, {"centralized"}), (2, {"centralized", "hub_and_spoke"}), (3, {"hub_and_spoke"}),
    (4, {"federated"}), (5, {"federated"}),
])
def test_topology_by_level(level: int, now: set[str]) -> None:
    assert {t["id"] for t in topologies_for(level) if t["when"] == "now"} == now


def test_headcount_gaps() -> None:
    team = assess_team({"data_scientist": 3, "ml_engineer": 1}, 2)
    t = team.table
    assert t.loc["data_engineer", "gap_now"] == 1  # data engineers are critical from level 1
    assert t.loc["ml_engineer", "gap_now"] == 1
    assert t.loc["ml_platform_engineer", "needed_now"] == 0 and t.loc["ml_platform_engineer", "needed_next"] > 0
    assert team.total == 4 and team.typical_size == (3, 8)


# --- roadmap, transitions, build vs buy, budget ------------------------------------------------

@pytest.mark.parametrize("level, phase", [(1, "foundation"), (2, "standardization"), (3, "scale"), (4, "optimize"), (5, "optimize")])
def test_roadmap_phase(level: int, phase: str) -> None:
    assert roadmap_phase(level)["id"] == phase


@pytest.mark.parametrize("level, word", [(1, "first model"), (2, "standardization"), (3, "self-service"), (4, "culture")])
def test_transition_bottleneck(level: int, word: str) -> None:
    assert word in next_transition(level)["bottleneck"].lower()


def test_no_transition_after_level_5() -> None:
    assert next_transition(5) is None


@pytest.mark.parametrize("level, options", [
    (1, {"managed_cloud"}), (2, {"managed_cloud", "open_source", "commercial_platform"}),
    (3, {"managed_cloud", "open_source", "commercial_platform", "hybrid"}),
    (4, {"open_source", "commercial_platform", "hybrid"}), (5, {"hybrid"}),
])
def test_build_vs_buy_options(level: int, options: set[str]) -> None:
    assert {o["id"] for o in build_vs_buy(level, False, False)["options"]} == options


def test_build_vs_buy_rules() -> None:
    ops = build_vs_buy(2, False, False)["guidance"]
    core = build_vs_buy(2, True, True)["guidance"]
    assert "managed" in ops[0] and "core differentiator" in core[0]
    assert any("regulation" in g for g in core) and not any("regulation" in g for g in ops)


def test_budget_split_follows_guidance() -> None:
    table = budget_split(1_000_000)
    assert table.loc["team", ["share_low", "share_high"]].tolist() == [0.60, 0.70]
    assert table.loc["infrastructure", ["share_low", "share_high"]].tolist() == [0.20, 0.25]
    assert table.loc["enablement", ["share_low", "share_high"]].tolist() == [0.10, 0.15]
    assert table["amount_mid"].sum() == pytest.approx(1_000_000)
    assert table.loc["team", "amount_low"] == pytest.approx(600_000)
