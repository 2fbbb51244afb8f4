"""The interactive form's callbacks, driven without a browser."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kit.config import load_config, validate_config
from kit.readiness.config import ReadinessSection
from kit.readiness.widgets import UNANSWERED, ReadinessForm, section_yaml

DEMO = Path(__file__).resolve().parent.parent / "data" / "configs" / "demo.yaml"


@pytest.fixture
def form(tmp_path: Path) -> ReadinessForm:
    return ReadinessForm(load_config(DEMO).readiness, save_to=tmp_path / "answers.yaml", draw=False)


def test_initial_scores_match_config(form: ReadinessForm) -> None:
    assert form.assessment.pillars == {"data": 2.0, "infrastructure": 2.75, "process": 2.4, "organization": 3.0}
    assert len(form.tabs.children) == 7 and form.tabs.titles[0] == "Data readiness"
    assert "(declared 3: overestimated)" in form.status.value


def test_changing_an_answer_rescores(form: ReadinessForm) -> None:
    form.question_inputs["process_review"].value = 5  # 2 -> 5 raises the mean by 3/5
    assert form.assessment.pillars["process"] == 3.0
    assert "Process maturity: 3" in form.status.value


def test_clearing_a_flag_lifts_the_cap_and_raising_one_caps(form: ReadinessForm) -> None:
    form.flag_inputs["no_data_catalog"].value = False
    assert form.assessment.pillars["data"] == round((3 + 2 + 3 + 2 + 4 + 3) / 6, 2)
    form.flag_inputs["no_rollback"].value = True
    assert form.assessment.pillars["process"] == 2.0


def test_skipped_question_is_unanswered_not_zero(form: ReadinessForm) -> None:
    form.question_inputs["org_sponsorship"].value = UNANSWERED
    assert form.assessment.pillars["organization"] == round((3 + 3 + 2 + 3) / 4, 2)
    assert "org_sponsorship" in form.assessment.unanswered["questions"]


def test_skipping_a_whole_pillar_shows_the_problem(form: ReadinessForm) -> None:
    for q in ("infra_compute", "infra_deployment", "infra_scaling", "infra_environments"):
        form.question_inputs[q].value = UNANSWERED
    assert form.assessment.pillars["infrastructure"] is None
    assert "pillar &#x27;infrastructure&#x27;" in form.status.value


def test_capabilities_move_the_level(form: ReadinessForm) -> None:
    assert form.assessment.level == 2
    for cap in ("standard_pipeline", "feature_store", "drift_monitoring"):
        form.capability_inputs[cap].value = True
    assert form.assessment.maturity.capability_level == 3
    assert form.assessment.level == 2  # held down: pillar scores are below 3


def test_save_writes_a_valid_readiness_block(form: ReadinessForm, tmp_path: Path) -> None:
    form.question_inputs["data_catalog"].value = 4
    path = form.save()
    block = yaml.safe_load(path.read_text())
    assert block["readiness"]["answers"]["data_catalog"] == 4
    dataset = {"path": str(DEMO.parent.parent / "telco_churn" / "Telco-Customer-Churn.csv"), "target": "Churn"}
    config = validate_config({"organization": {"name": "x"}, "dataset": dataset} | block)
    assert config.readiness.answers["data_catalog"] == 4
    assert config.readiness.declared_level == 3


def test_section_yaml_keeps_only_non_defaults() -> None:
    text = section_yaml(ReadinessSection(answers={"data_access": 2}))
    assert yaml.safe_load(text) == {"readiness": {"answers": {"data_access": 2}}}


def test_form_without_save_path_explains() -> None:
    form = ReadinessForm(ReadinessSection(), draw=False)
    with pytest.raises(ValueError, match="save_to"):
        form.save()


def test_declared_level_and_team_update_live(form: ReadinessForm) -> None:
    form.declared_input.value = 2
    assert form.assessment.maturity.status == "agrees"
    form.team_inputs["ml_engineer"].value = 4
    assert form.assessment.team.ratio == 1.0 and form.assessment.team.ratio_status == "within guidance"
    form.team_inputs["ml_engineer"].value = -3  # bounded input: clamps instead of accepting a negative
    assert form.current_section().team["ml_engineer"] == 0
