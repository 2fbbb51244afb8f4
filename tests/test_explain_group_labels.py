"""Fairness group labels end to end on the real Telco run: tables, figure and artifact show names, not codes."""
from __future__ import annotations

import matplotlib
import pytest

from kit.errors import DataError
from kit.explain import display, phase
from kit.notebook import start

from test_explain_fixtures import make_run

matplotlib.use("Agg")
LABELS = {"SeniorCitizen": {0: "under 65", 1: "65 or older"}}


def test_senior_citizen_groups_are_named_in_tables_and_figure(tmp_path):
    ctx = start(make_run(tmp_path, "xgboost", explain={"fairness": {"bootstrap": 0, "group_labels": LABELS}}), tmp_path)
    inputs = phase.load_inputs(ctx)
    fair = phase.assess_fairness(inputs)
    table = display.group_table(fair)
    assert set(table.loc["SeniorCitizen"].index) == {"under 65", "65 or older"}
    assert table.loc[("SeniorCitizen", "65 or older"), "count"] == int((inputs.X["SeniorCitizen"] == 1).sum())
    assert set(table.loc["gender"].index) == {"Female", "Male"}  # unlabelled columns keep their values
    fig = display.fairness_chart(fair, inputs)
    ticks = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]
    assert any(t.startswith("65 or older") for t in ticks) and "1" not in ticks
    senior = next(c for c in fair["columns"] if c["column"] == "SeniorCitizen")
    assert senior["groups"].set_index("group").loc["under 65", "code"] == "0"


def test_labels_for_a_column_training_did_not_check_are_a_data_error(tmp_path):
    config = make_run(tmp_path, "xgboost", sensitive=["gender", "SeniorCitizen", "Partner"],
                      explain={"fairness": {"bootstrap": 0, "group_labels": {"Partner": {"Yes": "with partner"}}}})
    inputs = phase.load_inputs(start(config, tmp_path))
    with pytest.raises(DataError, match="group_labels.Partner: not a sensitive column of the trained dataset"):
        phase.assess_fairness(inputs)
