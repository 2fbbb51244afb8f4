"""The readiness content files are complete and consistent with FRAMEWORK.md."""
from __future__ import annotations

import pytest

from kit.readiness import content

FRAMEWORK_PILLARS = {"data": "Data readiness", "infrastructure": "Technical infrastructure",
                     "process": "Process maturity", "organization": "Organizational alignment"}
FRAMEWORK_LEVELS = {1: "Ad hoc", 2: "Repeatable", 3: "Defined", 4: "Managed", 5: "Optimized"}
FRAMEWORK_TEAM = {1: (1, 3), 2: (3, 8), 3: (10, 20), 4: (20, 50), 5: (50, None)}
FRAMEWORK_ROLE_LEVEL = {"data_scientist": 1, "data_engineer": 1, "ml_engineer": 2, "ml_product_manager": 2,
                        "ml_platform_engineer": 3, "ml_architect": 3}


def test_four_pillars_with_framework_names() -> None:
    assert content.pillars()["name"].to_dict() == FRAMEWORK_PILLARS


@pytest.mark.parametrize("pillar", list(FRAMEWORK_PILLARS))
def test_every_pillar_has_questions_flags_and_fix(pillar: str) -> None:
    questions = content.questions()
    mine = questions[questions["pillar"] == pillar]
    assert len(mine) >= 3
    assert mine[["text", "level_1", "level_3", "level_5"]].notna().all().all()
    flags = content.red_flags()
    assert (flags["pillar"] == pillar).sum() >= 3
    assert content.pillars().loc[pillar, "fix"].strip()


def test_ids_are_unique_across_files() -> None:
    ids = [*content.questions().index, *content.red_flags().index, *content.prerequisites().index,
           *content.capabilities().index, *content.roles().index]
    assert len(ids) == len(set(ids))


def test_five_prerequisites_point_at_pillars() -> None:
    prereq = content.prerequisites()
    assert len(prereq) == 5
    assert set(prereq["pillar"]) <= set(FRAMEWORK_PILLARS)


def test_levels_match_framework() -> None:
    levels = content.levels()
    assert levels["name"].to_dict() == FRAMEWORK_LEVELS
    for level, (low, high) in FRAMEWORK_TEAM.items():
        assert levels.loc[level, "team_min"] == low
        assert (levels.loc[level, "team_max"] == high) if high else levels.loc[level, "team_max"] != levels.loc[level, "team_max"]
    assert levels["characteristics"].str.len().min() > 40 and levels["time_to_next"].notna().all()


def test_every_level_above_one_has_capabilities_and_every_capability_a_level() -> None:
    caps = content.capabilities()
    assert caps["level"].notna().all()
    assert set(caps["level"]) == {2, 3, 4, 5}
    assert content.levels().loc[2:, "n_capabilities"].min() >= 4


def test_minimum_pillar_rises_with_level() -> None:
    mins = content.levels()["min_pillar"].dropna()
    assert mins.index.tolist() == [2, 3, 4, 5]
    assert mins.is_monotonic_increasing
    assert mins[2] == content.questionnaire()["rules"]["blocker_below"]  # level 2 needs no blocker


def test_transitions_for_levels_one_to_four() -> None:
    assert set(content.maturity_model()["transitions"]) == {1, 2, 3, 4}


def test_roles_start_at_framework_levels() -> None:
    assert content.roles()["from_level"].to_dict() == FRAMEWORK_ROLE_LEVEL
    assert bool(content.roles().loc["data_engineer", "critical"])


def test_minimum_headcount_consistent_with_roles_ratio_and_team_size() -> None:
    guide = content.team_guide()
    need, ratio = guide["minimum_headcount"], guide["ds_mle_ratio"]["guidance"]
    roles = content.roles()
    for level in range(1, 6):
        assert set(need[level]) == set(roles.index[roles["from_level"] <= level])
        low, high = FRAMEWORK_TEAM[level]
        assert low <= sum(need[level].values()) <= (high or 10**6)
        if level >= 2:
            assert need[level]["data_scientist"] / need[level]["ml_engineer"] == ratio[level]
    for role in roles.index:
        counts = [need[lv].get(role, 0) for lv in range(1, 6)]
        assert counts == sorted(counts)


def test_roadmap_phases_cover_each_level_once() -> None:
    phases = content.roadmap_guide()["phases"]
    covered = [lv for p in phases for lv in p["levels"]]
    assert sorted(covered) == [1, 2, 3, 4, 5]
    assert [p["months"] for p in phases] == ["1-3", "3-9", "9-18", "18+"]
    assert all(len(p["actions"]) >= 4 for p in phases)


def test_budget_shares_can_sum_to_one() -> None:
    split = content.roadmap_guide()["budget"]["split"]
    assert sum(s["share"][0] for s in split) <= 1.0 <= sum(s["share"][1] for s in split)


def test_red_flag_caps_in_yaml_keep_flagged_pillars_at_or_below_two() -> None:
    caps = content.questionnaire()["rules"]["red_flag_caps"]
    assert min(c["min_flags"] for c in caps) == 1
    assert max(c["cap"] for c in caps) == 2.0
