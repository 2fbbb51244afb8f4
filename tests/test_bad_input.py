"""Bad input found early: each case ends in a KitError naming the problem and the fix, never a raw traceback."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.config import load_config
from kit.errors import ConfigError, DataError
from kit.schema import DatasetSpec

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

@pytest.mark.parametrize("sep", [";", "\t"])
def test_a_file_separated_by_another_character_names_the_read_option_that_works(tmp_path: Path, sep: str) -> None:
    csv = pd.DataFrame({"x": range(40), "y": ["Yes", "No"] * 20}).to_csv(index=False, sep=sep)
    path = config_file(tmp_path, csv, dataset="  positive_class: 'Yes'\n")
    message = check_problems(path)
    assert "1 problem(s)" in message and f"dataset.path: data.csv reads as one column ({'x' + sep + 'y'!r}…)" in message
    fix = message.split("set dataset.")[-1]  # read_options: {sep: "..."}, as YAML
    path.write_text(path.read_text() + f"  {fix}\n")
    assert load_config(path).dataset.read_options == {"sep": sep}  # the suggested option reads the file


def test_an_empty_sensitive_column_is_found_by_kit_check_not_as_missing_in_phase_3(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": range(40), "g": [None] * 40, "h": ["a", "b"] * 20, "y": ["Yes", "No"] * 20})
    path = config_file(tmp_path, frame.to_csv(index=False), dataset="  positive_class: 'Yes'\n  sensitive: [g, h]\n")
    assert ("dataset.sensitive: column 'g' is entirely empty in data.csv, so fairness cannot be assessed on it"
            in check_problems(path))
    path.write_text(path.read_text().replace("[g, h]", "[h]"))
    load_config(path)


def test_a_header_naming_a_column_twice_is_found_by_kit_check(tmp_path: Path) -> None:
    csv = "x,x,x.1, x,,y\n" + "".join(f"{i},{i},{i},{i},{i},{'Yes' if i % 2 else 'No'}\n" for i in range(40))
    path = config_file(tmp_path, csv, dataset="  positive_class: 'Yes'\n")
    assert ("dataset.path: data.csv names column(s) 'x' more than once in its header (pandas would read the "
            "second as a different column, e.g. 'x.1'); rename the repeats") in check_problems(path)
    (tmp_path / "data.csv").write_text(csv.replace("x,x,", "x,z,", 1))  # ' x', 'x.1' and a blank name are distinct
    load_config(path)


def test_the_named_pilots_portfolio_dataset_is_checked_by_kit_check(tmp_path: Path) -> None:
    portfolio = pd.read_csv(ROOT / "data" / "use_cases" / "portfolio.csv")
    portfolio["dataset_path"] = [str((ROOT / "data" / "use_cases" / p).resolve()) if isinstance(p, str) else p
                                 for p in portfolio["dataset_path"]]
    churn = portfolio["name"] == "Churn prediction"
    portfolio.loc[churn, "dataset_sensitive"] = "gender;Senior"
    portfolio.to_csv(tmp_path / "portfolio.csv", index=False)
    head = f"organization: {{name: Acme}}\ndataset: {{path: {TELCO}, target: Churn, positive_class: 'Yes'}}\n"
    (tmp_path / "run.yaml").write_text(head + "use_cases:\n  portfolio_path: portfolio.csv\n")
    load_config(tmp_path / "run.yaml")  # no pilot named: phase 1 picks it, nothing more to check here
    (tmp_path / "run.yaml").write_text(head + "use_cases:\n  portfolio_path: portfolio.csv\n  pilot: Churn prediction\n")
    assert ("use_cases.pilot 'Churn prediction': portfolio dataset_sensitive: column 'Senior' not in "
            "Telco-Customer-Churn.csv; did you mean 'SeniorCitizen'?") in check_problems(tmp_path / "run.yaml")
    portfolio.loc[churn, ["dataset_sensitive", "dataset_positive_class"]] = ["gender", "yes"]
    portfolio.to_csv(tmp_path / "portfolio.csv", index=False)
    assert "portfolio dataset_positive_class: 'yes' does not occur" in check_problems(tmp_path / "run.yaml")


def test_header_only_file(tmp_path: Path) -> None:
    text = check_problems(config_file(tmp_path, "x,y\n"))
    assert "dataset.target: target 'y': the file has a header but no rows" in text


def test_all_missing_target(tmp_path: Path) -> None:
    text = check_problems(config_file(tmp_path, labelled_csv([None] * 30)))
    assert "dataset.target: target 'y': all 30 values are missing" in text


@pytest.mark.parametrize(("labels", "found", "why"), [(["a"] * 30, "1 distinct value(s) ['a']", "nothing to learn"),
                                                       (["a", "b", "c"] * 20, "3 distinct value(s) ['a', 'b', 'c']", "exactly two classes"),
                                                       ([1], "1 distinct value(s) ['1']", "nothing to learn")],
                         ids=["one-class", "three-classes-as-binary", "one-row"])
def test_target_needs_two_values_or_two_classes_for_binary(tmp_path: Path, labels: list[object], found: str, why: str) -> None:
    text = check_problems(config_file(tmp_path, labelled_csv(labels), "  task: binary\n"))
    assert f"dataset.target: target 'y' has {found}" in text and why in text
    if why == "exactly two classes":  # with task auto (the default) three labels are a multiclass target
        (tmp_path / "auto").mkdir()
        assert load_config(config_file(tmp_path / "auto", labelled_csv(labels))).dataset.task == "auto"


def test_too_few_rows_of_a_class(tmp_path: Path) -> None:
    text = check_problems(config_file(tmp_path, labelled_csv(["no"] * 240 + ["yes"] * 3)))
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


# --- 1. numbers written with thousands separators or decimal commas --------------------------------

def telco_frame() -> pd.DataFrame:
    """The bundled telco data as read (TotalCharges is numbers stored as text with 11 blanks)."""
    return pd.read_csv(TELCO)


def telco_spec(path: Path = TELCO, **options: object) -> DatasetSpec:
    """The telco dataset spec, with read options."""
    return DatasetSpec(path=path, target="Churn", positive_class="Yes", id_columns=["customerID"],
                       read_options=dict(options))


def test_thousands_separators_are_converted_with_a_note() -> None:
    from kit.training.data import clean_frame

    raw = telco_frame()
    total = pd.to_numeric(raw["TotalCharges"], errors="coerce")
    raw["TotalCharges"] = total.map(lambda v: "" if pd.isna(v) else f"{v:,.2f}")  # 1,889.50
    assert raw["TotalCharges"].str.contains(",").sum() > 3000
    out, notes = clean_frame(raw, telco_spec())
    assert out["TotalCharges"].dtype == "float64"
    np.testing.assert_allclose(out["TotalCharges"], total.round(2), equal_nan=True)
    note = next(n for n in notes if "TotalCharges" in n)
    assert "written with thousands separators" in note and "11 blank" in note
    assert "dataset.read_options: {'thousands': ',', 'decimal': '.'}" in note


@pytest.mark.parametrize(("fmt", "style"), [(lambda v: f"{v:,.2f}".replace(",", "_").replace(".", ",").replace("_", "."),
                                             "decimal commas"),
                                            (lambda v: f"{v:.2f}".replace(".", ","), "decimal commas")],
                         ids=["1.234,5", "3,14"])
def test_decimal_commas_are_converted(fmt, style: str) -> None:
    from kit.training.data import clean_frame

    raw = telco_frame()
    raw["MonthlyCharges"] = raw["MonthlyCharges"].map(fmt)
    out, notes = clean_frame(raw, telco_spec())
    np.testing.assert_allclose(out["MonthlyCharges"], telco_frame()["MonthlyCharges"])
    assert any(f"'MonthlyCharges' holds numbers written with {style}" in n for n in notes)


def test_the_suggested_read_options_read_the_same_numbers(tmp_path: Path) -> None:
    from kit.training.data import load_dataset

    raw = telco_frame()
    raw["MonthlyCharges"] = raw["MonthlyCharges"].map(lambda v: f"{v * 100:,.2f}".replace(",", "_")
                                                      .replace(".", ",").replace("_", "."))
    path = tmp_path / "telco_de.csv"
    raw.to_csv(path, sep=";", index=False)
    with pytest.warns(UserWarning, match="decimal commas"):
        converted = load_dataset(telco_spec(path, sep=";"))
    direct = load_dataset(telco_spec(path, sep=";", thousands=".", decimal=","), show_warnings=False)
    assert direct["MonthlyCharges"].dtype == "float64"
    np.testing.assert_allclose(converted["MonthlyCharges"], direct["MonthlyCharges"])
    np.testing.assert_allclose(direct["MonthlyCharges"], telco_frame()["MonthlyCharges"] * 100)


def test_separators_that_read_two_ways_name_the_read_option() -> None:
    from kit.training.data import clean_frame

    raw = telco_frame()
    raw["tenure_k"] = (raw["tenure"] + 1).map(lambda v: f"{v * 1000:,d}")  # 1,000 ... 73,000: 1.0 or 1000?
    with pytest.raises(DataError, match=r"column 'tenure_k': .*read two ways .*dataset\.read_options: "
                                        r"\{'thousands': ',', 'decimal': '\.'\} for 1,234\.5"):
        clean_frame(raw, telco_spec())


def test_the_suggested_drop_columns_fix_works() -> None:
    from kit.training.data import clean_frame

    raw = telco_frame()
    raw["tenure_k"] = (raw["tenure"] + 1).map(lambda v: f"{v * 1000:,d}")
    raw["mixed"] = np.where(raw.index % 3 == 0, "n/a", raw["tenure"].astype(str))  # text in a numeric column
    out, _ = clean_frame(raw, telco_spec().model_copy(update={"drop_columns": ["tenure_k", "mixed"]}))
    assert out["tenure_k"].dtype == "category" and out["mixed"].dtype == "category"


def test_profile_flags_separated_numbers_and_infinities() -> None:
    from kit.profile import profile_frame

    raw = telco_frame()
    raw["TotalCharges"] = pd.to_numeric(raw["TotalCharges"], errors="coerce").map(
        lambda v: "" if pd.isna(v) else f"{v:,.2f}")
    raw.loc[[3, 5, 8], "MonthlyCharges"] = [np.inf, -np.inf, np.inf]
    profile = profile_frame(raw, id_columns=["customerID"])
    assert "TotalCharges" in profile.numeric_text_columns
    assert profile.separator_number_columns == {"TotalCharges": "comma_thousands"}
    assert profile.infinite_values == {"MonthlyCharges": 3}


def _format_number(value: float, style: str) -> str:
    """A number written in a separator style."""
    text = f"{value:,.2f}"
    return text if style == "comma_thousands" else text.replace(",", "_").replace(".", ",").replace("_", ".")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), min_size=1, max_size=30),
       st.sampled_from(["comma_thousands", "decimal_comma"]))
def test_separator_style_is_never_the_wrong_one(values: list[float], style: str) -> None:
    from kit.profile import parse_separated, separator_style

    text = pd.Series([_format_number(v, style) for v in values], dtype="string")
    found = separator_style(text)
    assert found in (style, "ambiguous", None)  # None: no value needs a separator (all below 1,000, and 'x.00')
    if found == style:
        expected = [float(f"{v:.2f}") for v in values]
        np.testing.assert_allclose(parse_separated(text, style), expected, rtol=1e-12, atol=1e-9)


# --- 2. column names the boosters refuse, infinities ------------------------------------------------

HOSTILE = ["Air temperature [K]", "a<b", 'say "hi"', "k:v,w", "{x}", "", "tab\tname", "a[1]", "a]1["]


@pytest.fixture(scope="module")
def ai4i_models():
    """Both boosters trained on the bundled AI4I data, whose columns have brackets, plus hostile extra names."""
    from kit.training.config import TrainingSection
    from kit.training.pipeline import train_candidates

    frame = pd.read_csv(ROOT / "data" / "ai4i_maintenance" / "ai4i2020.csv", encoding="utf-8-sig")
    y = frame["Machine failure"].to_numpy()
    X = frame[["Type", "Air temperature [K]", "Process temperature [K]", "Rotational speed [rpm]",
               "Torque [Nm]", "Tool wear [min]"]].assign(Type=lambda d: d["Type"].astype("category"))
    rng = np.random.default_rng(0)
    for name in HOSTILE[1:]:
        X[name] = rng.normal(size=len(X))
    X.loc[X.index[:5], "a<b"] = np.inf
    settings_ = TrainingSection(max_trees=40, early_stopping_rounds=10, bootstrap=20)
    train, valid = np.arange(0, 7000), np.arange(7000, 10000)
    cands = train_candidates(X.iloc[train], y[train], X.iloc[valid], y[valid], settings_, seed=3,
                             target="Machine failure", positive_class=1, negative_class=0)
    return X, y, {c.name: c for c in cands}


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm"])
def test_hostile_column_names_train_score_and_reload(ai4i_models, algorithm: str, tmp_path: Path) -> None:
    from sklearn.metrics import roc_auc_score

    from kit.training.scoring import ScoringModel

    X, y, cands = ai4i_models
    model = cands[algorithm].model
    assert model.features == list(X.columns)  # users see the original names
    assert len(set(model.booster_features)) == len(X.columns)  # 'a[1]' and 'a]1[' stay apart
    proba = model.predict_proba(X.iloc[7000:])
    assert roc_auc_score(y[7000:], proba) > 0.85
    saved = ScoringModel.load(model.save(tmp_path / "m"))
    assert saved.features == list(X.columns)
    np.testing.assert_allclose(saved.predict_proba(X.iloc[7000:]), proba, rtol=1e-6)
    assert np.isfinite(saved.predict_proba(X.iloc[:5])).all()  # inf rows score as missing values
    gain = saved.gain()
    assert set(gain) == set(X.columns) and gain["Torque [Nm]"] > 0


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm"])
def test_shap_keeps_original_names_and_adds_up(ai4i_models, algorithm: str) -> None:
    from kit.explain import shapley

    X, _, cands = ai4i_models
    model = cands[algorithm].model
    prepared = model.prepare(X.iloc[7000:7200])
    contribs = shapley.exact_contributions(model.booster, prepared)
    assert list(contribs.values.columns) == list(X.columns)
    np.testing.assert_allclose(contribs.margin, model.margin(X.iloc[7000:7200]), rtol=1e-5, atol=1e-5)
    reference = shapley.treeexplainer_contributions(model.booster, prepared)
    np.testing.assert_allclose(reference.values.to_numpy(), contribs.values.to_numpy(), atol=1e-4)


def test_logistic_baseline_treats_infinities_as_missing(ai4i_models) -> None:
    X, _, cands = ai4i_models
    assert np.isfinite(cands["logistic_regression"].predict_proba(X.iloc[:50])).all()


def test_booster_names_are_unchanged_when_safe_and_distinct_otherwise() -> None:
    from kit.training.scoring import booster_name

    assert booster_name("MonthlyCharges") == "MonthlyCharges" and booster_name("ünï_çødé") == "ünï_çødé"
    renamed = [booster_name(n) for n in HOSTILE]
    assert len(set(renamed)) == len(HOSTILE)
    assert not any(c in "".join(renamed) for c in '[]<>{}",: \t')


def test_infinities_become_missing_with_a_note() -> None:
    from kit.training.data import clean_frame

    raw = telco_frame()
    raw.loc[[1, 2], "MonthlyCharges"] = [np.inf, -np.inf]
    out, notes = clean_frame(raw, telco_spec())
    assert out["MonthlyCharges"].isna().sum() == 2 and np.isfinite(out["MonthlyCharges"].dropna()).all()
    assert any("column 'MonthlyCharges' holds 2 infinite value(s) (inf/-inf" in n for n in notes)


def test_huge_whole_float_labels_are_not_cast_to_integers(tmp_path: Path) -> None:
    """Found by the fuzz test: 9.2e18 is a whole float beyond int64's exact range (was a raw TypeError)."""
    from kit.training.data import whole_numbers

    labels = pd.Series([9.223372036854776e18, 0.0, None])
    assert whole_numbers(labels) is labels
    assert whole_numbers(pd.Series([1.0, 0.0, None])).dtype == "Int64"
    text = check_problems(config_file(tmp_path, "x,y\n1,9.223372036854776e+18\n2,0\n"))
    assert "cannot tell which of ['0.0', '9.223372036854776e+18'] in target 'y'" in text


@pytest.mark.parametrize(("options", "found"), [({"encoding": "bogus"}, "unknown encoding: bogus"),
                                                ({"chunksize": 2}, "return TextFileReader, not a table"),
                                                ({"thousand": ","}, "unexpected keyword argument 'thousand'"),
                                                ({"usecols": ["zz"]}, "could not be read")])
def test_bad_read_options_are_named(tmp_path: Path, options: dict, found: str) -> None:
    extra = "  read_options: " + yaml.safe_dump(options, default_flow_style=True)
    text = check_problems(config_file(tmp_path, labelled_csv(["a", "b"] * 20), extra))
    assert "dataset.path: " in text and found in text and "read_options" in text


def test_values_beyond_float32_are_missing_for_every_model() -> None:
    """Found by the fuzz test: 1e308 overflowed the baseline's scaler (NaN) and is infinity to XGBoost (float32)."""
    from kit.training.config import TrainingSection
    from kit.training.pipeline import train_candidates

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    X.loc[[3, 250], "a"], X.loc[4, "b"] = 1e308, -1e39
    y = (X["b"] + rng.normal(size=300) > 0).astype(int).to_numpy()
    cands = train_candidates(X[:200], y[:200], X[200:], y[200:],
                             TrainingSection(max_trees=20, algorithms=["xgboost", "lightgbm"]), seed=1)
    for cand in cands:
        proba = cand.predict_proba(X)
        assert np.isfinite(proba).all(), cand.name
        same_as_missing = cand.predict_proba(X.mask(X.abs() > 3.4e38))
        np.testing.assert_allclose(proba, same_as_missing, err_msg=cand.name)


def test_out_of_range_values_are_counted_with_infinities() -> None:
    from kit.training.data import clean_frame

    raw = telco_frame()
    raw.loc[[1, 2, 3], "MonthlyCharges"] = [np.inf, 1e308, -1e39]
    out, notes = clean_frame(raw, telco_spec())
    assert out["MonthlyCharges"].isna().sum() == 3
    assert any("'MonthlyCharges' holds 3 infinite value(s)" in n and "3.4e38" in n for n in notes)


def test_index_col_does_not_hide_the_target(tmp_path: Path) -> None:
    """Found by the fuzz test: index_col plus reading only the target column was a raw KeyError."""
    text = check_problems(config_file(tmp_path, ",y\n", "  read_options: {index_col: 0}\n"))
    assert "target 'y': the file has a header but no rows" in text
    (tmp_path / "ok").mkdir()
    ok = config_file(tmp_path / "ok", labelled_csv(["a", "b"] * 20), "  positive_class: a\n  read_options: {index_col: 0}\n")
    assert load_config(ok).dataset.read_options == {"index_col": 0}
