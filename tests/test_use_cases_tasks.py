"""problem_type -> task: the mapping, untrainable use cases never the pilot, the pilot's task reaching training."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from kit.config import load_config
from kit.errors import ConfigError, DataError
from kit.notebook import start
from kit.use_cases import display as show
from kit.use_cases import phase
from kit.use_cases.portfolio import load_portfolio, resolve_weights
from kit.use_cases.tasks import task_for

ROOT = Path(__file__).resolve().parents[1]
TELCO = ROOT / "data" / "telco_churn" / "Telco-Customer-Churn.csv"
BIKE = ROOT / "data" / "bike_sharing" / "bike_hourly.csv"


@pytest.mark.parametrize(("problem_type", "task", "time_ordered"), [
    ("binary classification", "binary", False),
    ("anomaly detection", "binary", False),
    ("time-series forecasting", "regression", True),
    ("price optimization", "regression", True),
    ("Capacity planning", "regression", True),
    ("regression", "regression", False),
    ("multiclass classification", "multiclass", False),
    ("ticket triage", "multiclass", False),
    ("text classification", "none", False),
    ("recommendation", "none", False),
    ("document processing", "none", False),
    ("something new", "auto", False),
])
def test_problem_types_map_to_tasks(problem_type: str, task: str, time_ordered: bool) -> None:
    found = task_for(problem_type)
    assert (found.task, found.time_ordered, found.trainable) == (task, time_ordered, task != "none")


def row(name: str, problem_type: str, value: float = 500_000, **extra) -> dict:
    """One inline portfolio row; a higher value ranks higher."""
    base = {
        "name": name, "business_unit": "Ops", "problem_type": problem_type, "annual_value": value,
        "build_cost": 100_000, "run_cost_per_year": 20_000, "data_availability": 4, "data_quality": 4,
        "complexity": 2, "months_to_value": 4, "automation_potential": 4, "executive_sponsor": "yes",
        "stakes": "low", "regulatory_exposure": "low", "kpi_name": "KPI", "kpi_baseline": 1, "kpi_target": 2,
    }
    return {**base, **extra}


def write_config(tmp_path: Path, portfolio: list[dict], **use_cases) -> Path:
    """A run config with an inline portfolio (maturity level 3: the top-ranked eligible use case is the pilot)."""
    cfg = {"organization": {"name": "Acme"}, "dataset": {"path": str(TELCO), "target": "Churn"},
           "use_cases": {"portfolio": portfolio, "maturity_level": 3, **use_cases}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_phase(path: Path, tmp_path: Path) -> dict:
    """Every step the notebook runs; returns the artifact."""
    ctx = start(path, tmp_path / "run", interactive=False)
    readiness = phase.readiness_inputs(ctx)
    portfolio = load_portfolio(ctx.config)
    weights = resolve_weights(ctx.config.use_cases.weights)
    ranking = phase.rank_portfolio(portfolio, weights, readiness, ctx.config)
    stability = phase.stability_for(portfolio, ranking, weights, ctx.config)
    pilot = phase.pick_pilot(portfolio, ranking, readiness, ctx.config)
    return phase.build_artifact(ranking, stability, weights, readiness, pilot, portfolio, ctx.config)


def test_an_untrainable_top_use_case_is_ranked_but_never_the_pilot(tmp_path: Path) -> None:
    rows = [row("Offers", "recommendation", 5_000_000), row("Churn", "binary classification", 800_000)]
    art = run_phase(write_config(tmp_path, rows), tmp_path)
    assert art["ranking"][0]["name"] == "Offers"  # scored and ranked first on value
    assert art["pilot"]["name"] == "Churn" and art["pilot"]["task"] == "binary"
    tasks = {t["name"]: t for t in art["tasks"]}
    assert tasks["Offers"]["trainable"] is False and tasks["Churn"]["trainable"] is True


def test_a_configured_untrainable_pilot_is_refused_at_config_check_and_in_the_phase(tmp_path: Path) -> None:
    rows = [row("Offers", "recommendation", 5_000_000), row("Churn", "binary classification", 800_000)]
    path = write_config(tmp_path, rows, pilot="Offers")
    with pytest.raises(ConfigError, match="'Offers' is a 'recommendation' use case, which the kit cannot train"):
        load_config(path)


def test_only_untrainable_use_cases_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no use case in the portfolio is a kind the kit can train"):
        run_phase(write_config(tmp_path, [row("Offers", "recommendation"), row("Mail", "text classification")]), tmp_path)


def test_a_forecasting_pilot_trains_as_regression_on_a_time_ordered_split_with_calendar(tmp_path: Path) -> None:
    from kit.training.data import load_dataset, make_split
    from kit.training.phase import resolve_dataset

    rows = [row("Demand", "time-series forecasting", 2_000_000,
                dataset={"path": str(BIKE), "target": "cnt", "time_column": "datetime", "drop_columns": "dteday;instant"}),
            row("Churn", "binary classification", 400_000)]
    path = write_config(tmp_path, rows)
    art = run_phase(path, tmp_path)
    pilot = art["pilot"]
    assert (pilot["name"], pilot["task"], pilot["time_ordered"]) == ("Demand", "regression", True)
    assert pilot["dataset"]["task"] == "regression" and pilot["dataset"]["calendar"] == "auto"
    spec = resolve_dataset(load_config(path), pilot)  # what phase 2 trains on
    frame = load_dataset(spec, show_warnings=False)
    assert {"datetime_hour", "datetime_weekday", "datetime_month"} <= set(frame.columns)
    split = make_split(frame, frame["cnt"].to_numpy(dtype=float), 0.2, 0.2, 0, spec.time_column, task="regression")
    stamps = pd.to_datetime(frame["datetime"])
    assert stamps.iloc[split.parts["train"]].max() < stamps.iloc[split.parts["test"]].min()


def test_a_forecasting_pilot_without_a_time_column_says_what_to_add(tmp_path: Path) -> None:
    rows = [row("Demand", "time-series forecasting", 2_000_000, dataset={"path": str(BIKE), "target": "cnt"})]
    with pytest.raises(DataError, match="time-ordered split.*add dataset_time_column"):
        run_phase(write_config(tmp_path, rows), tmp_path)


def test_a_kpi_metric_of_the_wrong_task_is_a_portfolio_problem(tmp_path: Path) -> None:
    rows = [row("Demand", "time-series forecasting", kpi_metric="recall"), row("Churn", "binary classification", kpi_metric="rmse"),
            row("Route", "multiclass classification", kpi_metric="macro_f1"), row("Price", "pricing", kpi_metric="mae")]
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, rows))
    text = str(err.value)
    assert "row 1 (Demand): kpi_metric = 'recall' is not a regression metric" in text
    assert "row 2 (Churn): kpi_metric = 'rmse' is not a binary metric" in text
    assert "Route" not in text and "Price" not in text


def test_bundled_portfolios_keep_their_pilots_and_say_which_cannot_be_trained(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"organization": {"name": "Acme"}, "dataset": {"path": str(TELCO), "target": "Churn"}}))
    art = run_phase(cfg, tmp_path)
    assert art["pilot"]["name"] == "Churn prediction" and art["pilot"]["task"] == "binary"
    untrainable = sorted(t["name"] for t in art["tasks"] if not t["trainable"])
    assert untrainable == ["Next-best-offer recommendations", "Support ticket routing"]
    ctx = start(cfg, tmp_path / "run2", interactive=False)
    note = show.tasks_note(load_portfolio(ctx.config)).data
    assert "**Next-best-offer recommendations** (recommendation): not trainable by the kit" in note
    assert "**Network capacity planning** (time-series forecasting): regression; time-ordered split" in note


def test_the_pilot_card_states_the_task_and_the_kpi_direction(tmp_path: Path) -> None:
    rows = [row("Demand", "time-series forecasting", 2_000_000, kpi_metric="mae", kpi_threshold=60),
            row("Churn", "binary classification", 400_000, kpi_metric="recall", kpi_threshold=0.7)]
    path = write_config(tmp_path, rows)
    ctx = start(path, tmp_path / "run", interactive=False)
    portfolio = load_portfolio(ctx.config)
    readiness = phase.readiness_inputs(ctx)
    weights = resolve_weights(ctx.config.use_cases.weights)
    ranking = phase.rank_portfolio(portfolio, weights, readiness, ctx.config)
    card = show.pilot_card(phase.pick_pilot(portfolio, ranking, readiness, ctx.config)).data
    assert "model metric **mae ≤ 60.0**" in card  # an error must stay below its threshold
    assert "- Task: **regression**; time-ordered split with calendar features" in card
    path = write_config(tmp_path, rows, pilot="Churn")
    ctx = start(path, tmp_path / "run2", interactive=False)
    card = show.pilot_card(phase.pick_pilot(portfolio, ranking, readiness, ctx.config)).data
    assert "model metric **recall ≥ 0.7**" in card and "- Task: **binary**" in card
