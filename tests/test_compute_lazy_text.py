"""Numbers written as text in a Parquet set on the Dask engine: load_lazy applies load_dataset's own text rule.

Each test writes a hostile Parquet set (several files, the text written differently from file to file) and
asserts that the lazy frame, computed in this process (no cluster), is the local engine's frame of the same
set value for value and dtype for dtype, with the same notes and data hash; or that both engines refuse the
set with the same message.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.compute.lazy import load_lazy
from kit.errors import DataError
from kit.schema import DatasetSpec
from kit.training.data import frame_hash, load_dataset

TELCO = Path(__file__).resolve().parent.parent / "data" / "telco_churn" / "Telco-Customer-Churn.csv"


def write_files(frames: list[pd.DataFrame], folder: Path) -> Path:
    """Each frame as one Parquet file of ``folder``, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        frame.to_parquet(folder / f"part-{i}.parquet", index=False)
    return folder


def split_rows(frame: pd.DataFrame, parts: int = 3) -> list[pd.DataFrame]:
    """``frame`` cut into ``parts`` consecutive pieces."""
    return [frame.iloc[rows] for rows in np.array_split(np.arange(len(frame)), parts)]


@pytest.fixture(scope="module")
def telco() -> pd.DataFrame:
    """The first 900 rows of the bundled Telco data, with TotalCharges as the numbers it holds."""
    frame = pd.read_csv(TELCO).head(900)
    frame["TotalCharges"] = pd.to_numeric(frame["TotalCharges"], errors="coerce")
    return frame


def spec_for(path: Path, **extra) -> DatasetSpec:
    """The demo's dataset spec on another path."""
    return DatasetSpec(path=path, target="Churn", positive_class="Yes", **{"id_columns": ["customerID"], **extra})


def assert_same_as_local(spec: DatasetSpec) -> pd.DataFrame:
    """The lazy dataset equals load_dataset on the same files: frame (dtypes included), notes and hash."""
    local = load_dataset(spec, show_warnings=False)
    lazy = load_lazy(spec, None)
    assert lazy.frame.npartitions > 1  # cleaned per file by the plan, not read whole
    pd.testing.assert_frame_equal(lazy.frame.compute(scheduler="sync"), local)
    assert lazy.notes == local.attrs["kit_notes"]
    assert lazy.data_hash() == frame_hash(local)
    return local


def assert_same_refusal(spec: DatasetSpec) -> str:
    """Both engines refuse the set with the same DataError; its message."""
    with pytest.raises(DataError) as local:
        load_dataset(spec, show_warnings=False)
    with pytest.raises(DataError) as lazy:
        load_lazy(spec, None)
    assert str(lazy.value) == str(local.value)
    return str(local.value)


def thousands(values: pd.Series) -> pd.Series:
    """Numbers as text with thousands separators and two decimals (1,889.50); blank where missing."""
    return values.map(lambda v: "" if pd.isna(v) else f"{v:,.2f}").astype("string")


def plain(values: pd.Series) -> pd.Series:
    """Numbers as plain text (1889.5); blank where missing."""
    return values.map(lambda v: "" if pd.isna(v) else repr(float(v))).astype("string")


def test_thousands_separators_in_some_files_only_are_numbers_as_locally(tmp_path: Path, telco: pd.DataFrame) -> None:
    first, middle, last = split_rows(telco)
    files = [first.assign(TotalCharges=plain(first["TotalCharges"])),  # plain text: no separator in this file
             middle.assign(TotalCharges=thousands(middle["TotalCharges"])),
             last.assign(TotalCharges=thousands(last["TotalCharges"]))]
    files[2].loc[files[2].index[:3], "Churn"] = None  # unlabelled rows: dropped before the rule, as locally
    files[1].loc[files[1].index[5], "TotalCharges"] = None  # a missing cell besides the blank ones
    local = assert_same_as_local(spec_for(write_files(files, tmp_path / "set")))
    assert local["TotalCharges"].dtype == "float64" and len(local) == 897
    expected = telco["TotalCharges"].round(2).mask(telco.index == middle.index[5]).drop(index=last.index[:3])
    np.testing.assert_allclose(local["TotalCharges"], expected, equal_nan=True)
    note = next(n for n in local.attrs["kit_notes"] if "'TotalCharges'" in n)
    assert "written with thousands separators" in note and "became missing" in note
    assert note.endswith("; store the column as numbers in the Parquet data to read them directly")  # no CSV option


def test_a_single_parquet_file_names_no_csv_read_option(tmp_path: Path, telco: pd.DataFrame) -> None:
    path = tmp_path / "one.parquet"
    telco.assign(TotalCharges=thousands(telco["TotalCharges"])).to_parquet(path, index=False)
    notes = load_lazy(spec_for(path), None).notes  # one file: load_dataset itself
    assert notes == load_dataset(spec_for(path), show_warnings=False).attrs["kit_notes"]
    note = next(n for n in notes if "'TotalCharges'" in n)
    assert "read_options" not in note and note.endswith("store the column as numbers in the Parquet data to read them directly")


def test_decimal_commas_over_files_are_numbers_as_locally(tmp_path: Path, telco: pd.DataFrame) -> None:
    frame = telco.assign(MonthlyCharges=telco["MonthlyCharges"].map(lambda v: f"{v:.2f}".replace(".", ",")))
    local = assert_same_as_local(spec_for(write_files(split_rows(frame), tmp_path / "set")))
    np.testing.assert_allclose(local["MonthlyCharges"], telco["MonthlyCharges"].round(2))


def test_a_value_breaking_the_rule_in_one_file_keeps_the_column_categorical_everywhere(
        tmp_path: Path, telco: pd.DataFrame) -> None:
    frame = telco.assign(TotalCharges=thousands(telco["TotalCharges"]))
    frame.loc[880:899, "TotalCharges"] = "unknown"  # 20 text cells in the last file only: beyond the tolerance
    folder = write_files(split_rows(frame), tmp_path / "set")
    for extra in ({}, {"drop_columns": ["TotalCharges"]}, {"id_columns": ["customerID", "TotalCharges"]}):
        local = assert_same_as_local(spec_for(folder, **extra))
        categories = local["TotalCharges"].cat.categories  # one level set, in every partition
        assert {"unknown", "1,889.50", "29.85"} <= set(categories) and len(categories) == local["TotalCharges"].nunique()


def test_separators_that_read_two_ways_across_files_are_refused_as_locally(tmp_path: Path, telco: pd.DataFrame) -> None:
    frame = telco.assign(Thousand=[f"{1 + i % 9},{i:03d}" for i in range(900)])  # 1,234: thousands or decimals?
    folder = write_files(split_rows(frame), tmp_path / "ambiguous")
    message = assert_same_refusal(spec_for(folder))
    assert message == ("column 'Thousand': its numbers use separators that read two ways (e.g. ['1,000', '2,001']: "
                       "thousands separators or decimal commas); store the column as numbers in the Parquet data, "
                       "or list it in dataset.drop_columns")  # a Parquet set takes no thousands/decimal read option
    local = assert_same_as_local(spec_for(folder, drop_columns=["Thousand"]))  # the fix named works
    assert isinstance(local["Thousand"].dtype, pd.CategoricalDtype)
    frame.loc[:299, "Thousand"] = [f"{1 + i % 9}.{i:03d},5" for i in range(300)]  # 1.234,5 in the first file only
    frame.loc[300:, "Thousand"] = [f"{1 + i % 9},{i:03d}.5" for i in range(300, 900)]  # 1,234.5 in the others
    assert "both styles" in assert_same_refusal(spec_for(write_files(split_rows(frame), tmp_path / "mixed")))


def test_the_first_non_number_in_row_order_is_the_example_as_locally(tmp_path: Path, telco: pd.DataFrame) -> None:
    frame = telco.assign(Score=np.arange(900).astype(str))
    frame.loc[[10, 11], "Score"] = " "  # a blank first: missing, not text ...
    frame.loc[20, "Score"] = "x"  # ... then the first text ...
    frame.loc[400:449, "Score"] = "n/a"  # ... and the most frequent text, in another file
    message = assert_same_refusal(spec_for(write_files(split_rows(frame), tmp_path / "set")))
    assert message.startswith("column 'Score': 94% of its values are numbers but others are text (e.g. 'x'); ")


@pytest.mark.parametrize("blank", ["n/a", "NA", "-", "  "])
def test_blank_words_and_percent_signs_follow_the_local_rule(tmp_path: Path, telco: pd.DataFrame, blank: str) -> None:
    frame = telco.assign(Rate=[f"{i % 97}%" for i in range(900)], Load=thousands(telco["TotalCharges"] * 10))
    frame.loc[[3, 450, 899], "Load"] = blank  # within the tolerance: missing, counted in the note
    local = assert_same_as_local(spec_for(write_files(split_rows(frame), tmp_path / "set")))
    assert isinstance(local["Rate"].dtype, pd.CategoricalDtype) and local["Load"].dtype == "float64"
    assert local["Load"].iloc[[3, 450, 899]].isna().all()


def test_numbers_as_text_in_one_file_and_numbers_in_another_are_refused_alike(tmp_path: Path,
                                                                             telco: pd.DataFrame) -> None:
    files = split_rows(telco.assign(Senior=(telco["SeniorCitizen"] == 1).map({True: "True", False: "False"})))
    files[1] = files[1].assign(TotalCharges=plain(files[1]["TotalCharges"]))  # text here, float64 elsewhere
    message = assert_same_refusal(spec_for(write_files(files, tmp_path / "mixed")))
    assert "part-1.parquet: its columns or types differ from part-0.parquet's" in message
    files[1] = files[1].assign(TotalCharges=telco["TotalCharges"].loc[files[1].index])
    local = assert_same_as_local(spec_for(write_files(files, tmp_path / "mixed")))  # booleans as text: a category
    assert list(local["Senior"].cat.categories) == ["False", "True"]


# ---- a column that reads differently from file to file ---------------------------------------------------
def write_arrow_files(frames: list[pd.DataFrame], folder: Path) -> Path:
    """Each frame as one Parquet file without pandas metadata (as Spark or pyarrow writers store them)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
        pq.write_table(table, folder / f"part-{i}.parquet")
    return folder


def test_integers_and_booleans_missing_in_one_file_only_read_as_the_whole_set(tmp_path: Path,
                                                                              telco: pd.DataFrame) -> None:
    frame = telco.assign(tenure=telco["tenure"].astype("Int64"), Paperless=(telco["PaperlessBilling"] == "Yes")
                         .astype("boolean"), Flag=pd.array([True, False] * 450, dtype="boolean"))
    frame.loc[400, "tenure"] = None  # an integer column: float64 where a file has a missing value, int64 elsewhere
    frame.loc[700, "Paperless"] = None  # a boolean one: object (text, so a category) where a file has a missing value
    frame.loc[650, "Flag"] = None  # ... on an unlabelled row: the column is object in the set all the same
    frame.loc[650, "Churn"] = None
    local = assert_same_as_local(spec_for(write_arrow_files(split_rows(frame), tmp_path / "set")))
    assert local["tenure"].dtype == "float64" and np.isnan(local["tenure"].iloc[400])
    assert list(local["Paperless"].cat.categories) == [False, True] and local["Paperless"].isna().sum() == 1
    assert isinstance(local["Flag"].dtype, pd.CategoricalDtype) and local["Flag"].notna().all()


@pytest.mark.parametrize("fraction", [0.0, 0.5])
def test_a_numeric_target_with_unlabelled_rows_is_whole_only_when_every_file_is(tmp_path: Path, telco: pd.DataFrame,
                                                                                fraction: float) -> None:
    frame = telco.drop(columns="Churn").assign(Months=telco["tenure"].astype("float64"))
    frame.loc[frame.index[-300:], "Months"] += fraction  # the last file's targets: whole numbers or not
    frame.loc[[10, 20], "Months"] = np.nan  # unlabelled rows in the first file only
    spec = DatasetSpec(path=write_files(split_rows(frame), tmp_path / "set"), target="Months", task="regression",
                       id_columns=["customerID"])
    local = assert_same_as_local(spec)
    assert str(local["Months"].dtype) == ("Int64" if fraction == 0 else "float64")


def test_an_integer_label_missing_in_one_file_only_is_an_integer_as_locally(tmp_path: Path, telco: pd.DataFrame) -> None:
    frame = telco.assign(Churn=(telco["Churn"] == "Yes").astype("Int64"))
    frame.loc[[700, 701], "Churn"] = None  # float64 in the last file only (no pandas metadata to say Int64)
    spec = DatasetSpec(path=write_arrow_files(split_rows(frame), tmp_path / "set"), target="Churn", positive_class=1,
                       id_columns=["customerID"])
    local = assert_same_as_local(spec)
    assert str(local["Churn"].dtype) == "Int64" and len(local) == 898


def test_the_first_files_pandas_dtypes_hold_for_the_set_as_locally(tmp_path: Path, telco: pd.DataFrame) -> None:
    files = split_rows(telco)
    files[0] = files[0].astype({"Contract": "string", "tenure": "Int64"})  # pandas' own dtypes, in the first file
    local = assert_same_as_local(spec_for(write_files(files, tmp_path / "set")))
    assert local["Contract"].cat.categories.dtype == "string" and str(local["tenure"].dtype) == "Int64"


def test_categorical_columns_with_other_categories_per_file_read_as_the_whole_set(tmp_path: Path,
                                                                                  telco: pd.DataFrame) -> None:
    files = split_rows(telco.drop(columns="Contract"))
    contract = [["Two year", "Month-to-month"], ["One year", "Month-to-month"], ["Month-to-month", "Two year"]]
    for i, levels in enumerate(contract):  # pandas categoricals: each file stores its own dictionary, in its order
        files[i] = files[i].assign(Contract=pd.Categorical(np.resize(levels, len(files[i])), categories=levels))
    files[1] = files[1].assign(Size=pd.Categorical(np.resize(["M", "L"], 300), categories=["S", "M", "L"], ordered=True))
    files[0] = files[0].assign(Size=pd.Categorical(np.resize(["S", "M"], 300), categories=["S", "M"], ordered=True))
    files[2] = files[2].assign(Size=pd.Categorical(np.resize(["S"], 300), categories=["S", "M", "L"], ordered=True))
    local = assert_same_as_local(spec_for(write_files(files, tmp_path / "set")))
    assert list(local["Contract"].cat.categories) == ["Two year", "Month-to-month", "One year"]  # first file's first
    assert local["Size"].cat.ordered and list(local["Size"].cat.categories) == ["S", "M", "L"]


# ---- a real public dataset -----------------------------------------------------------------------------
ADULT = Path("/work/shared/data/adult/adult.data")
ADULT_COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
                 "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
                 "income"]


@pytest.mark.skipif(not ADULT.is_file(), reason="the shared UCI Adult data is not on this machine")
def test_adult_exported_with_thousands_separators_by_some_writers_equals_local(tmp_path: Path) -> None:
    adult = pd.read_csv(ADULT, header=None, names=ADULT_COLUMNS, skipinitialspace=True)  # '?' marks unknown
    files = [part.copy() for part in split_rows(adult, 4)]
    for i, part in enumerate(files):  # weights as text: 77,516 from two writers, 77516 from the others
        part["fnlwgt"] = part["fnlwgt"].map("{:,d}".format if i % 2 else str)  # 1,033,222 says ',' groups thousands
        part["capital-gain"] = part["capital-gain"].map("{:,d}".format if i == 2 else str)  # 99,999 at most
    files[3].loc[files[3].index[:5], "income"] = None  # unlabelled rows in the last file
    spec = DatasetSpec(path=write_files(files, tmp_path / "adult"), target="income", positive_class=">50K",
                       sensitive=["sex", "race"])
    message = assert_same_refusal(spec)  # 3,674 alone could be 3.674 with a decimal comma: both engines ask
    assert message.startswith("column 'capital-gain': its numbers use separators that read two ways")
    files[2]["capital-gain"] = adult["capital-gain"].loc[files[2].index].map("{:,.2f}".format)  # 3,674.00: clear
    local = assert_same_as_local(spec.model_copy(update={"path": write_files(files, tmp_path / "adult")}))
    expected = adult.drop(index=files[3].index[:5])
    np.testing.assert_array_equal(local["fnlwgt"], expected["fnlwgt"].to_numpy(dtype="float64"))
    np.testing.assert_array_equal(local["capital-gain"], expected["capital-gain"].to_numpy(dtype="float64"))
    assert "?" in local["workclass"].cat.categories and len(local) == len(adult) - 5


# ---- a property over any text the files may hold -----------------------------------------------------------
CELLS = ["1", " 2.5 ", "-7", "1e3", "1,234.5", "12,345", "1,000,000", "1.234,5", "3,14", "", " ", "n/a", "NA", "x",
         "12%", None]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(CELLS), min_size=1, max_size=12), min_size=2, max_size=4),
       st.lists(st.booleans(), min_size=4, max_size=4))
def test_any_text_over_files_is_read_as_locally_or_refused_alike(tmp_path_factory, cells: list[list],
                                                                 unlabelled: list[bool]) -> None:
    folder = tmp_path_factory.mktemp("set")
    frames = []
    for i, part in enumerate(cells):  # one file per list; a first unlabelled row where drawn (its text is dropped),
        # never in the first file (with no labelled row at all, load_lazy refuses early where load_dataset does later)
        labels = pd.array([None if unlabelled[i] and i and j == 0 else j % 2 for j in range(len(part))], dtype="Int64")
        frames.append(pd.DataFrame({"x": pd.Series(part, dtype="string"), "y": labels}))
    spec = DatasetSpec(path=write_files(frames, folder), target="y", positive_class=1)
    try:
        local = load_dataset(spec, show_warnings=False)
    except DataError as exc:
        with pytest.raises(DataError) as lazy:
            load_lazy(spec, None)
        assert str(lazy.value) == str(exc)
        return
    lazy = load_lazy(spec, None)
    pd.testing.assert_frame_equal(lazy.frame.compute(scheduler="sync"), local)
    assert lazy.notes == local.attrs["kit_notes"] and lazy.data_hash() == frame_hash(local)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.tuples(st.sampled_from([True, False, None]), st.sampled_from([0, 7, -3, None]),
                                   st.sampled_from([0.0, 1.0, 2.5, None])), min_size=1, max_size=8),
                min_size=2, max_size=4))
def test_any_missing_booleans_and_integers_over_files_read_as_locally(tmp_path_factory, rows: list[list]) -> None:
    frames = []
    for part in rows:  # one file per list, written without pandas metadata; the first row is always labelled
        flags, counts, target = zip(*part)
        frames.append(pd.DataFrame({"b": pd.array(flags, dtype="boolean"), "i": pd.array(counts, dtype="Int64"),
                                    "y": pd.array((1.0, *target[1:]) if not frames else target, dtype="Float64")}))
    spec = DatasetSpec(path=write_arrow_files(frames, tmp_path_factory.mktemp("set")), target="y", task="regression")
    local = load_dataset(spec, show_warnings=False)
    lazy = load_lazy(spec, None)
    pd.testing.assert_frame_equal(lazy.frame.compute(scheduler="sync"), local)
    assert lazy.notes == local.attrs["kit_notes"] and lazy.data_hash() == frame_hash(local)
