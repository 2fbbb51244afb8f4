"""Regression tests for defects found in review: label encoding, disjoint batches, targets and time columns."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kit.errors import DataError
from kit.monitoring.run import TARGET, _labelled
from kit.monitoring.scenarios import draw_batches
from kit.schema import DatasetSpec
from kit.training.data import encode_target, load_dataset, make_split


def test_production_labels_use_the_models_positive_class() -> None:
    batch = _labelled("w1", pd.DataFrame({"x": [1, 2, 3], "Churn": ["Yes", "No ", "Yes"]}), "Churn", "Yes")
    assert batch.labelled and batch.frame[TARGET].tolist() == [1, 0, 1]


def test_partly_labelled_batch_counts_as_unlabelled() -> None:
    batch = _labelled("w1", pd.DataFrame({"x": [1, 2, 3], "Churn": ["Yes", None, "No"]}), "Churn", "Yes")
    assert not batch.labelled and "Churn" not in batch.frame


def test_too_few_rows_give_disjoint_batches() -> None:
    held_out = pd.DataFrame({"id": np.arange(100), "v": np.linspace(0, 1, 100)})
    batches = draw_batches(held_out, n_batches=8, batch_size=60, seed=3)
    assert [len(b) for b in batches] == [60] * 8
    seen = [set(b["id"]) for b in batches]
    assert all(not (seen[i] & seen[j]) for i in range(8) for j in range(i + 1, 8))
    with pytest.raises(DataError, match="too few"):
        draw_batches(held_out.head(5), n_batches=8, batch_size=60, seed=3)


def test_time_ordered_batches_follow_parsed_dates() -> None:
    held_out = pd.DataFrame({"t": pd.Categorical(["03/01/2021", "01/02/2021", "12/01/2020"]), "v": [3, 2, 1]})
    batches = draw_batches(held_out, n_batches=3, batch_size=1, seed=0, time_column="t")
    assert [int(b["v"].iloc[0]) for b in batches] == [1, 2, 3]


def test_numeric_target_with_a_blank_cell(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("x,y\n1,0\n2,1\n3,\n4,1\n5,0\n")
    frame = load_dataset(DatasetSpec(path=path, target="y"))
    target = encode_target(frame["y"], 1)
    assert target.y.tolist() == [0, 1, 1, 0] and target.positive_class == 1


def test_time_split_refuses_unparseable_times() -> None:
    frame = pd.DataFrame({"t": ["2020-01-03", None, "2020-01-01", "2020-01-02"]})
    with pytest.raises(DataError, match="missing or not dates"):
        make_split(frame, np.array([0, 1, 0, 1]), 0.25, 0.25, 0, time_column="t")


def test_bundled_portfolio_never_replaces_the_users_dataset(tmp_path: Path) -> None:
    import yaml

    from kit.config import load_config
    from kit.use_cases.phase import dataset_warnings
    from kit.use_cases.portfolio import load_portfolio

    root = Path(__file__).resolve().parent.parent
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({
        "organization": {"name": "Mine"},
        "dataset": {"path": str(root / "data" / "ai4i_maintenance" / "ai4i2020.csv"), "target": "Machine failure"},
    }))
    portfolio = load_portfolio(load_config(path))
    assert portfolio.datasets == {}
    assert "trains on your dataset (ai4i2020.csv)" in dataset_warnings(portfolio)[0]
    demo = load_portfolio(load_config(root / "data" / "configs" / "demo.yaml"))
    assert "Churn prediction" in demo.datasets and demo.note is None


def test_waterfall_keeps_base_and_score_lines_inside_the_frame(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from kit.explain import display
    from kit.explain.shapley import Contributions

    values = pd.DataFrame([[0.7, -0.3, 0.2, 0.1, -0.05]], columns=list("abcde"))
    contributions = Contributions(values, np.array([-1.0]))
    local = {"labels": ["test"], "contributions": contributions, "values": values, "ids": ["r1"], "proba": [0.6]}
    fig = display.waterfalls(local, SimpleNamespace(out_dir=tmp_path))
    low, high = fig.axes[0].get_xlim()
    assert low < -1.0 and high > -0.3  # the base (-1.0) and the farthest bar end (-0.3) sit inside the frame
