"""Config validation of the readiness section: every bad input names the key and the fix."""
from __future__ import annotations

from pathlib import Path

import pytest

from kit.config import load_config, validate_config
from kit.errors import ConfigError
from kit.readiness.assess import assess, profile_dataset, to_artifact

CONFIGS = Path(__file__).resolve().parent.parent / "data" / "configs"
ORG = {"organization": {"name": "Test Org"}}
FULL = {"data_access": 3, "infra_compute": 3, "process_workflow": 3, "org_leadership": 3}


def problems(readiness: dict) -> str:
    """The error message validate_config raises for a readiness section."""
    with pytest.raises(ConfigError) as info:
        validate_config(ORG | {"readiness": readiness})
    return str(info.value)


@pytest.mark.parametrize("readiness, expected", [
    ({"answers": FULL | {"data_catlog": 3}}, "readiness.answers.data_catlog: unknown question id; did you mean 'data_catalog'?"),
    ({"answers": FULL | {"infra_compute": 7}}, "readiness.answers.infra_compute: 7 is out of range; answer 1 (nascent) to 5 (advanced)"),
    ({"answers": FULL | {"data_access": 0}}, "readiness.answers.data_access: 0 is out of range"),
    ({"answers": {"data_access": 3, "infra_compute": 3, "org_leadership": 3}},
     "readiness.answers: pillar 'process' (Process maturity) has no answered question; answer at least one of process_workflow"),
    ({"team": {"data_scientist": -2}}, "readiness.team.data_scientist: headcount -2 is negative"),
    ({"team": {"ml_enginer": 1}}, "readiness.team.ml_enginer: unknown role id; did you mean 'ml_engineer'?"),
    ({"red_flags": {"no_catalog": True}}, "readiness.red_flags.no_catalog: unknown red flag id; did you mean 'no_data_catalog'?"),
    ({"capabilities": {"feature_stor": True}}, "readiness.capabilities.feature_stor: unknown capability id; did you mean 'feature_store'?"),
    ({"prerequisites": {"zzz": True}}, "readiness.prerequisites.zzz: unknown prerequisite id; valid ids: data_infrastructure"),
    ({"as_of": "yesterday"}, "readiness.as_of: 'yesterday' is not a date; write it as YYYY-MM-DD"),
    ({"declared_level": 7}, "readiness.declared_level: Input should be less than or equal to 5"),
    ({"answer": {}}, "readiness.answer: unknown key; did you mean 'answers'?"),
    ({"answers": {"data_access": "high"}}, "readiness.answers.data_access: Input should be a valid integer"),
])
def test_bad_input_names_the_item(readiness: dict, expected: str) -> None:
    assert expected in problems(readiness)


def test_all_problems_reported_at_once() -> None:
    message = problems({"answers": FULL | {"infra_compute": 9, "q_x": 2}, "team": {"data_engineer": -1}})
    assert sum(line.strip().startswith("readiness.") for line in message.splitlines()) == 3


def test_minimal_config_runs_the_phase_as_blank_questionnaire() -> None:
    config = validate_config(ORG | {"dataset": {"path": str(CONFIGS.parent / "telco_churn" / "Telco-Customer-Churn.csv"),
                                                "target": "Churn", "id_columns": ["customerID"]}})
    a = assess(config.readiness, profile_dataset(config), config.organization.name)
    art = to_artifact(a)
    assert art["pillars"] == {"data": None, "infrastructure": None, "process": None, "organization": None}
    assert art["maturity_level"] == 1 and art["blockers"] == []
    assert len(art["unanswered"]["questions"]) == 20  # 6 + 4 + 5 + 5 questions
    assert art["data_profile"]["rows"] == 7043
    assert art["headline"]["Weakest pillar"] == "not scored" and art["headline_status"] == "warn"


def test_demo_config_is_level_two_declared_three() -> None:
    config = load_config(CONFIGS / "demo.yaml")
    art = to_artifact(assess(config.readiness, None, config.organization.name))
    assert art["maturity_level"] == 2 and art["declared_level"] == 3
    assert art["blockers"] == [] and art["maturity"]["status"] == "overestimated"
    assert art["pillars"]["data"] == 2.0  # capped by the raised 'no data catalog' flag
    assert art["headline_status"] == "warn"
    assert any(r["kind"] == "maturity" for r in art["recommendations"])


def test_level1_config_has_a_blocker_listed_first() -> None:
    config = load_config(CONFIGS / "level1.yaml")
    art = to_artifact(assess(config.readiness, None, config.organization.name))
    assert art["maturity_level"] == 1 and art["blockers"]
    assert art["recommendations"][0]["kind"] == "blocker"
    assert art["headline_status"] == "fail"
    assert "data" in {b["pillar"] for b in art["blockers"]}


def test_blank_questionnaire_asks_for_answers_first() -> None:
    config = validate_config(ORG | {"dataset": {"path": str(CONFIGS.parent / "telco_churn" / "Telco-Customer-Churn.csv"),
                                                "target": "Churn"}})
    recs = to_artifact(assess(config.readiness)).get("recommendations")
    assert recs[0]["kind"] == "unanswered" and recs[0]["priority"] == 1


def test_artifact_is_deterministic() -> None:
    config = load_config(CONFIGS / "demo.yaml")
    first = to_artifact(assess(config.readiness, profile_dataset(config), config.organization.name))
    second = to_artifact(assess(config.readiness, profile_dataset(config), config.organization.name))
    assert first == second


def test_unquoted_yaml_date_is_accepted_as_as_of(tmp_path: Path) -> None:
    import yaml

    parsed = yaml.safe_load("as_of: 2026-03-31")  # YAML makes this a date, not text
    from kit.readiness.config import ReadinessSection

    assert ReadinessSection.model_validate({"as_of": parsed["as_of"]}).as_of == "2026-03-31"
