"""Readiness display: figures carry the right marks, tables the right rows, Markdown is escaped."""
from __future__ import annotations

import numpy as np
import pytest

from kit.readiness import display as show
from kit.readiness.assess import assess
from kit.readiness.config import ReadinessSection

LEVEL2 = {"models_in_production": True, "experiment_tracking": True, "shared_compute": True, "code_versioning": True}


@pytest.fixture
def result():
    section = ReadinessSection(
        answers={"data_access": 1, "data_catalog": 1, "infra_compute": 4, "process_workflow": 3, "org_leadership": 5},
        red_flags={"no_gpu_access": True}, capabilities=LEVEL2, declared_level=4,
        team={"data_scientist": 3, "ml_engineer": 1}, first_year_budget=1_000_000, currency="EUR")
    return assess(section, organization="Acme <script>alert(1)</script> *Corp*")


def test_radar_has_blocker_ring_and_scores(result) -> None:
    fig = show.radar_chart(result)
    ax = fig.axes[0]
    ring = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"][0]
    assert np.allclose(ring.get_ydata(), 2.0)
    score_line = [ln for ln in ax.get_lines() if ln.get_marker() == "o"][0]
    assert np.allclose(score_line.get_ydata()[:4], [1.0, 2.0, 3.0, 5.0])  # infrastructure capped at 2
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "Data readiness\n1.00"
    assert ax.get_xticklabels()[0].get_color() == show.BLOCKER_COLOR


def test_ladder_marks_estimated_and_declared(result) -> None:
    ax = show.maturity_ladder(result).axes[0]
    texts = {t.get_text(): t.xyann[1] if hasattr(t, "xyann") else t.get_position()[1] for t in ax.texts}
    assert texts["estimated"] == 1  # held down by the data blocker
    assert texts["declared"] == 4
    assert "held down by the pillar scores" in ax.get_title()


def test_scorecard_rows_and_highlight(result) -> None:
    styler = show.scorecard(result)
    data = styler.data
    assert data["pillar"].tolist() == ["Data readiness", "Technical infrastructure", "Process maturity",
                                       "Organizational alignment"]
    assert data.loc[0, "blocker"] == "BLOCKER" and data.loc[1, "blocker"] == ""
    assert "no access to GPUs" in data.loc[1, "red flags raised"]
    assert "#f8d7d3" in styler.to_html()


def test_recommendations_escape_user_text(result) -> None:
    text = show.recommendations_markdown(result).data
    assert "<script>" not in text and r"\<script\>alert\(1\)\</script\>" in text
    assert r"\*Corp\*" in text
    assert text.index("Blocker: Data readiness") < text.index("Plan from the evidence")
    assert "EUR 600,000-700,000" in text


def test_rules_come_from_content() -> None:
    text = show.scoring_rules().data
    assert "1+ flags: at most 2" in text and "3+ flags: at most 1.5" in text
    assert "level 3: 3" in text and "60%" in text


def test_questionnaire_marks_unanswered(result) -> None:
    table = show.questionnaire(result)
    assert table.loc["data_access", "answer"] == 1
    assert table.loc["data_pipelines", "answer"] == "-"
    assert len(table) == 20


def test_team_table_columns(result) -> None:
    table = show.team_table(result)
    assert list(table.columns) == ["headcount", "needed at level 1", "needed at level 2"]
    assert table.loc["ML engineer", "needed at level 2"] == 2
