"""Bad input found early: each case ends in a KitError naming the problem and the fix, never a raw traceback."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kit.config import load_config
from kit.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parent.parent
TELCO = ROOT / "data" / "telco_churn" / "Telco-Customer-Churn.csv"


def config_file(tmp_path: Path, csv: str, dataset: str = "", extra: str = "") -> Path:
    """Write data.csv and a run config (YAML text, so YAML quirks stay as written) pointing at it."""
    (tmp_path / "data.csv").write_text(csv, encoding="utf-8")
    text = f"organization:\n  name: Acme\ndataset:\n  path: data.csv\n  target: y\n{dataset}{extra}"
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def labelled_csv(labels: list[object]) -> str:
    """A two-column CSV (x, y) with the given target labels."""
    return pd.DataFrame({"x": range(len(labels)), "y": labels}).to_csv(index=False)


def check_problems(path: Path) -> str:
    """The ConfigError message of `kit check` on a config."""
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return str(err.value)


# --- 3. target problems found by `kit check`, not in phase 2 ---------------------------------------

def test_header_only_file(tmp_path: Path) -> None:
    text = check_problems(config_file(tmp_path, "x,y\n"))
    assert "dataset.target: target 'y': the file has a header but no rows" in text


def test_all_missing_target(tmp_path: Path) -> None:
    text = check_problems(config_file(tmp_path, labelled_csv([None] * 30)))
    assert "dataset.target: target 'y': all 30 values are missing" in text


@pytest.mark.parametrize(("labels", "found"), [(["a"] * 30, "1 distinct value(s) ['a']"),
                                                (["a", "b", "c"] * 20, "3 distinct value(s) ['a', 'b', 'c']"),
                                                ([1], "1 distinct value(s) ['1']")],
                         ids=["one-class", "three-classes", "one-row"])
def test_target_needs_exactly_two_classes(tmp_path: Path, labels: list[object], found: str) -> None:
    text = check_problems(config_file(tmp_path, labelled_csv(labels)))
    assert f"dataset.target: target 'y' has {found}" in text and "exactly two classes" in text


def test_too_few_rows_of_a_class(tmp_path: Path) -> None:
    text = check_problems(config_file(tmp_path, labelled_csv(["no"] * 40 + ["yes"] * 3)))
    assert "too few rows of a class ('yes': 3" in text and "at least 10 rows of each class" in text


@pytest.mark.parametrize("word", ["Yes", "yes", "on", "ON", "true"])
def test_unquoted_yes_positive_class_gets_the_quoting_hint(tmp_path: Path, word: str) -> None:
    labels = ["Yes", "No"] * 20
    text = check_problems(config_file(tmp_path, labelled_csv(labels), f"  positive_class: {word}\n"))
    assert "dataset.positive_class: True does not occur in target 'y'" in text
    assert "write positive_class: 'Yes' in quotes; YAML reads yes/no/on/off as true/false" in text


def test_quoted_yes_and_floats_with_blank_labels_pass(tmp_path: Path) -> None:
    ok = config_file(tmp_path, labelled_csv(["Yes", "No"] * 20), "  positive_class: 'Yes'\n")
    assert load_config(ok).dataset.positive_class == "Yes"
    (tmp_path / "b").mkdir()
    floats = config_file(tmp_path / "b", labelled_csv([1, 0, None] * 20), "  positive_class: 1\n")
    assert load_config(floats).dataset.positive_class == 1  # 1.0/0.0 with blanks read as 1/0, as phase 2 does


def test_phase_two_says_the_same(tmp_path: Path) -> None:
    from kit.training.data import encode_target

    with pytest.raises(DataError, match="write positive_class: 'Off' in quotes"):
        encode_target(pd.Series(["On", "Off"] * 5, name="y"), False)


def test_check_reads_only_the_target_column(tmp_path: Path) -> None:
    """A wide file's other columns are not parsed: the demo data's target check takes milliseconds."""
    from kit.data import read_column

    labels = read_column(TELCO, "Churn", {})
    assert labels.value_counts().to_dict() == {"No": 5174, "Yes": 1869}
    assert load_config(ROOT / "data" / "configs" / "demo.yaml").dataset.target == "Churn"
