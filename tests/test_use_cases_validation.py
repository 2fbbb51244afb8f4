"""Every bad-input path: one error that lists every offending row and column, before scoring."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from kit.config import load_config
from kit.errors import ConfigError, DataError
from kit.use_cases.portfolio import DEMO_PORTFOLIO, build_portfolio, read_portfolio_frame, resolve_weights


def raw_demo() -> pd.DataFrame:
    """The demo portfolio as read from its CSV (text cells)."""
    return read_portfolio_frame(DEMO_PORTFOLIO)


def problems_of(frame: pd.DataFrame) -> str:
    """The message of the DataError a bad portfolio raises."""
    with pytest.raises(DataError) as err:
        build_portfolio(frame, DEMO_PORTFOLIO.parent, "portfolio.csv")
    return str(err.value)


def test_demo_portfolio_is_valid():
    p = build_portfolio(raw_demo(), DEMO_PORTFOLIO.parent, "demo")
    assert 8 <= len(p.frame) <= 12
    assert p.frame["name"].is_monotonic_increasing
    assert {"Churn prediction", "Credit risk scoring", "Predictive maintenance"} <= set(p.datasets)
    churn = p.datasets["Churn prediction"]
    assert churn.path.is_absolute() and churn.path.is_file()
    assert (churn.target, churn.positive_class, churn.sensitive) == ("Churn", "Yes", ["gender", "SeniorCitizen"])
    ai4i = p.datasets["Predictive maintenance"]
    assert ai4i.positive_class == 1 and ai4i.id_columns == ["UDI", "Product ID"]
    assert ai4i.drop_columns == ["TWF", "HDF", "PWF", "OSF", "RNF"]


def test_missing_columns_are_listed_together():
    msg = problems_of(raw_demo().drop(columns=["stakes", "build_cost"]))
    assert "missing column(s): build_cost, stakes" in msg


def test_unknown_column_suggests_the_fix():
    msg = problems_of(raw_demo().assign(anual_valu="1"))
    assert "'anual_valu'" in msg and "did you mean 'annual_value'" in msg


def test_every_bad_cell_in_one_error():
    f = raw_demo()
    f.loc[0, "data_quality"] = "7"
    f.loc[1, "complexity"] = "0"
    f.loc[2, "build_cost"] = "-5"
    f.loc[3, "stakes"] = "critical"
    f.loc[4, "annual_value"] = "lots"
    f.loc[5, "executive_sponsor"] = "maybe"
    f.loc[6, "regulatory_exposure"] = "extreme"
    f.loc[7, "kpi_metric"] = "accuracy_ish"
    f.loc[8, "cost_false_negative"] = "-1"
    f.loc[9, "name"] = f.loc[0, "name"]
    msg = problems_of(f)
    expected = [
        "row 1 (Churn prediction): data_quality = 7 is outside 1-5",
        "row 2 (Credit risk scoring): complexity = 0 is outside 1-5",
        "row 3 (Fraud detection): build_cost = -5 is negative",
        "row 4 (Predictive maintenance): stakes = 'critical' is not allowed; use high, medium or low",
        "row 5 (Handset demand forecasting): annual_value = 'lots' is not a number",
        "row 6 (Marketing response): executive_sponsor = 'maybe' is not allowed",
        "row 7 (Dynamic bundle pricing): regulatory_exposure = 'extreme'",
        "row 8 (Support ticket routing): kpi_metric = 'accuracy_ish' is not a model metric",
        "row 9 (Next-best-offer recommendations): cost_false_negative = -1 is negative",
        "row 1 (Churn prediction): duplicate name 'Churn prediction'",
        "row 10 (Churn prediction): duplicate name 'Churn prediction'",
    ]
    for line in expected:
        assert line in msg, line
    assert "11 problem(s)" in msg


def test_empty_name_and_blank_required_number():
    f = raw_demo()
    f.loc[2, "name"] = " "
    f.loc[3, "months_to_value"] = ""
    msg = problems_of(f)
    assert "row 3: name is empty" in msg
    assert "row 4 (Predictive maintenance): months_to_value = '' is not a number" in msg


def test_incomplete_dataset_spec():
    f = raw_demo()
    f.loc[0, "dataset_target"] = ""
    assert "row 1 (Churn prediction): dataset_target: Field required" in problems_of(f)


def test_empty_portfolio():
    assert "no rows" in problems_of(raw_demo().head(0))


@pytest.mark.parametrize(
    "weights,needle",
    [
        ({"value": {"annual_value": 0, "return_multiple": 0, "automation_potential": 0}}, "weights.value: weights sum to zero"),
        ({"feasibility": {"data_availabilty": 1}}, "did you mean 'data_availability'"),
        ({"valeu": {"annual_value": 1}}, "weights.valeu: unknown group"),
        ({"value": {"annual_value": -1}}, "weights.value.annual_value: weight -1 must be a finite number >= 0"),
    ],
)
def test_bad_weights(weights, needle):
    with pytest.raises(DataError, match="use_cases weights") as err:
        resolve_weights(weights)
    assert needle in str(err.value)


def write_config(tmp_path: Path, use_cases: dict) -> Path:
    """A minimal config (organization + dataset) with the given use_cases section."""
    cfg = {
        "organization": {"name": "Test Org"},
        "dataset": {"path": str(DEMO_PORTFOLIO.parents[1] / "telco_churn" / "Telco-Customer-Churn.csv"),
                    "target": "Churn", "positive_class": "Yes"},
        "use_cases": use_cases,
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_config_load_lists_every_problem(tmp_path):
    rows = raw_demo().head(3).to_dict(orient="records")
    rows[0]["data_availability"] = 9
    rows[1]["stakes"] = "huge"
    path = write_config(tmp_path, {
        "portfolio": rows, "pilot": "Churn predictoin",
        "weights": {"feasibility": {k: 0 for k in ("data_availability", "data_quality", "simplicity", "time_to_value", "executive_sponsor", "regulatory_ease")}},
    })
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "use_cases.weights.feasibility: weights sum to zero" in msg
    assert "row 1 (Churn prediction): data_availability = 9 is outside 1-5" in msg
    assert "row 2 (Credit risk scoring): stakes = 'huge'" in msg
    assert "use_cases.pilot: 'Churn predictoin' is not in the portfolio; did you mean 'Churn prediction'?" in msg


def test_config_refuses_two_portfolio_sources(tmp_path):
    path = write_config(tmp_path, {"portfolio_path": str(DEMO_PORTFOLIO), "portfolio": [{"name": "x"}]})
    with pytest.raises(ConfigError, match="either portfolio_path or an inline portfolio"):
        load_config(path)


def test_config_with_missing_portfolio_file(tmp_path):
    path = write_config(tmp_path, {"portfolio_path": "nowhere.csv"})
    with pytest.raises(ConfigError, match="use_cases.portfolio_path: .*nowhere.csv: file not found"):
        load_config(path)


def test_config_unknown_key_suggests(tmp_path):
    path = write_config(tmp_path, {"maturity_levl": 3})
    with pytest.raises(ConfigError, match="did you mean 'maturity_level'"):
        load_config(path)
