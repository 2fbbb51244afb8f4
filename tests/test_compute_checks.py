"""Profiling, the quality report and the data contract on Dask equal the local functions on the same data: the
bundled datasets on 1 and 3 partitions, hostile partitions, random partitionings (hypothesis) and a LocalCluster."""
from __future__ import annotations

import json
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.compute import checks
from kit.compute.checks import (
    infer_contract_dask, profile_frame_dask, quality_report_dask, rows_at, take_rows, validate_dask,
)
from kit.data import read_table
from kit.profile import profile_frame
from kit.schema import DatasetSpec
from kit.training.contract import infer_contract, validate
from kit.training.data import encode_task_target, feature_columns, load_dataset
from kit.training.quality import quality_report

DATA = Path(__file__).resolve().parent.parent / "data"
SPECS = {
    "telco": dict(path=DATA / "telco_churn" / "Telco-Customer-Churn.csv", target="Churn", positive_class="Yes",
                  id_columns=["customerID"]),
    "german": dict(path=DATA / "german_credit" / "german_credit.csv", target="credit_risk", positive_class="bad"),
    "ai4i": dict(path=DATA / "ai4i_maintenance" / "ai4i2020.csv", target="Machine failure", positive_class=1,
                 id_columns=["UDI", "Product ID"]),
    "ai4i_type": dict(path=DATA / "ai4i_maintenance" / "ai4i2020_failure_type.csv", target="failure_type",
                      task="multiclass", id_columns=["UDI", "Product ID"]),
}


def lazy(frame: pd.DataFrame, parts: int) -> dd.DataFrame:
    """The frame as Dask partitions that keep its index (positions) and its string dtype."""
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_pandas(frame, npartitions=parts, sort=True)


def split_at(frame: pd.DataFrame, cuts: list[int]) -> dd.DataFrame:
    """The frame cut at the given row positions into partitions (repeated cuts give empty partitions)."""
    bounds = [0, *cuts, len(frame)]
    parts = [dask.delayed(frame.iloc[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_delayed(parts, meta=frame.iloc[:0], verify_meta=False)


@pytest.fixture(scope="module")
def datasets() -> dict[str, dict]:
    """Each bundled dataset cleaned as training cleans it, its spec, encoded target and a seeded training split."""
    out = {}
    for name, raw in SPECS.items():
        spec = DatasetSpec(**raw)
        frame = load_dataset(spec, show_warnings=False)
        target = encode_task_target(frame[spec.target], spec.positive_class, spec.task)
        rows = np.random.default_rng(1).permutation(len(frame))[: int(len(frame) * 0.6)]
        out[name] = {"spec": spec, "frame": frame, "target": target, "rows": rows,
                     "features": feature_columns(frame, spec)}
    return out


def same_profile(a, b) -> None:
    """Two profiles are the same (every field, every column profile)."""
    assert a.to_dict() == b.to_dict()


# ------------------------------------------------------------------ bundled data, in-process

@pytest.mark.parametrize("parts", [1, 3])
@pytest.mark.parametrize("name", list(SPECS))
def test_profile_quality_and_contract_equal_local_on_bundled_data(datasets, name: str, parts: int) -> None:
    d = datasets[name]
    frame, spec, rows, features = d["frame"], d["spec"], d["rows"], d["features"]
    lazy_frame = lazy(frame, parts)
    same_profile(profile_frame_dask(lazy_frame, id_columns=spec.id_columns),
                 profile_frame(frame, id_columns=spec.id_columns))
    target = d["target"]
    args = dict(rows=rows, task=target.task, classes=target.classes, seed=3)
    local = quality_report(frame, spec, features, target.y, **args)
    scaled = quality_report_dask(lazy_frame, spec, features, target.y, **args)
    assert scaled.to_dict() == local.to_dict()
    assert scaled.table().equals(local.table())
    kept = [c for c in features if c not in local.excluded]
    contract = infer_contract(frame.iloc[np.sort(rows)][kept], kept)
    assert infer_contract_dask(rows_at(lazy_frame, rows), kept).to_json() == contract.to_json()
    held_out = np.setdiff1d(np.arange(len(frame)), rows)
    assert (validate_dask(contract, rows_at(lazy_frame, held_out)[kept]).to_dict()
            == validate(contract, frame.iloc[held_out][kept]).to_dict())


def test_bundled_leak_findings_are_real(datasets) -> None:
    """The equality above is not vacuous: ai4i's rare failure flag RNF is near-constant, German credit has a
    screened feature per column and telco's id is id-like."""
    d = datasets["ai4i"]
    report = quality_report_dask(lazy(d["frame"], 3), d["spec"], d["features"], d["target"].y, rows=d["rows"])
    assert "RNF" in report.near_constant and report.leakage["single_feature_auc"].max() > 0.8
    g = datasets["german"]
    report = quality_report_dask(lazy(g["frame"], 3), g["spec"], g["features"], g["target"].y, rows=g["rows"])
    assert len(report.leakage) == len(g["features"]) and not report.excluded
    t = datasets["telco"]
    assert profile_frame_dask(lazy(t["frame"], 3)).id_like_columns == ["customerID"]


@pytest.mark.parametrize("parts", [1, 3])
def test_raw_table_profile_equals_local(parts: int) -> None:
    """Phase 0 profiles the raw file: text columns, numbers stored as text with blanks (telco's TotalCharges)."""
    raw = read_table(SPECS["telco"]["path"], None)
    local = profile_frame(raw, id_columns=["customerID"])
    assert local.numeric_text_columns == ["TotalCharges"] and local.blank_strings == {"TotalCharges": 11}
    same_profile(profile_frame_dask(lazy(raw, parts), id_columns=["customerID"]), local)


def test_separator_style_is_decided_over_all_partitions() -> None:
    """One partition writes 1,234.5 (comma thousands), another only 1,234: the style is the whole column's."""
    values = ["1,234.5", "2,000.25", "3.5", "7"] + ["1,234", "5,678", "9", "10"] * 3
    frame = pd.DataFrame({"amount": values, "n": range(len(values))}).astype({"amount": "object"})
    local = profile_frame(frame)
    assert local.separator_number_columns == {"amount": "comma_thousands"}
    same_profile(profile_frame_dask(split_at(frame, [4, 8])), local)


TIME_COLUMNS = {  # values of 24 rows, time_format
    # the format pandas infers from the first value (%m/%d/%Y) holds for the whole column, also in the partition
    # that starts with 13/02/2024 (alone, pandas would read that one as %d/%m/%Y)
    "day_month": (["01/02/2024"] * 6 + ["13/02/2024", "14/03/2024"] + ["02/03/2024"] * 16, None),
    "iso_blank_bad": (["2024-01-05", "", "bad date", None] * 6, None),
    "iso_time_zone": (["2024-01-05T10:00:00+02:00", "2024-02-05T10:00:00+02:00", None] * 8, None),
    "float_not_whole": ([20240105.0] * 8 + [20240106.5] + [20240107.0] * 15, "%Y%m%d"),  # floats stay floats
    "float_whole": ([20240105.0, np.nan] * 12, "%Y%m%d"),  # whole floats read as integers
    "year": ([2019, 2020, 2021] * 8, "year"),
    "year_bad": ([2019, 2020, 2021] * 7 + [20.5, 2022, 1999], "year"),
    "unix_text": (["1700000000", "1700003600", None] * 8, "unix_seconds"),
    "unix_out_of_range": ([1.7e9] * 20 + [1e30] * 4, "unix_seconds"),
    "numbers_no_format": ([np.nan, 5.0, 7.0, 8.0, 9.0] * 4 + [1.0] * 4, None),
    "number_text_no_format": (["2019", "2020", " 2021 ", None] * 6, None),
}


@pytest.mark.parametrize("case", list(TIME_COLUMNS))
def test_time_column_parsed_per_partition_as_the_whole_column(case: str) -> None:
    """Each partition parses its part of the time column as the whole column is parsed; errors name the same values."""
    values, time_format = TIME_COLUMNS[case]
    kind = "object" if isinstance(values[0], str) else None
    frame = pd.DataFrame({"t": pd.Series(values, dtype=kind), "x": np.arange(24)})
    now = pd.Timestamp("2024-06-01")
    local = profile_frame(frame, time_column="t", now=now, time_format=time_format)
    assert local.time_error or local.time_max or local.time_unparsed == 24  # floats not whole: none parse
    for cuts in ([6, 12, 18], [0, 8, 8, 20], [23]):
        same_profile(profile_frame_dask(split_at(frame, cuts), time_column="t", now=now, time_format=time_format), local)


def test_time_column_stored_as_timestamps_merges_its_range() -> None:
    stamps = pd.Series(pd.date_range("2024-01-01", periods=30, freq="17h"))
    stamps[[3, 20]] = pd.NaT
    frame = pd.DataFrame({"at": stamps, "x": np.arange(30.0)})
    now = pd.Timestamp("2024-03-01")
    local = profile_frame(frame, time_column="at", now=now)
    assert local.time_max.startswith("2024-01-21") and local.time_unparsed == 0
    same_profile(profile_frame_dask(split_at(frame, [10, 10, 25]), time_column="at", now=now), local)


# ------------------------------------------------------------------ hostile partitions

@pytest.fixture
def hostile() -> pd.DataFrame:
    """12 rows: 'note' missing in every row of the second partition, level 'rare' only in the third, rows 2 and 9
    equal (across partitions), an id unique overall but split over partitions, -0.0 and 0.0 in a repeated row."""
    return pd.DataFrame({
        "id": [f"C{i:02d}" for i in range(12)],
        "note": pd.Categorical(["a", "b", "a", "b", None, None, None, None, "a", "a", "b", "b"]),
        "level": pd.Categorical(["x"] * 8 + ["rare", "x", "x", "x"], categories=["rare", "x"]),
        "amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 3.0, 0.0, -0.0],
        "code": [7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7],
        "y": [0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 1],
    })


def test_hostile_partitions_profile(hostile: pd.DataFrame) -> None:
    frame = hostile.assign(note=hostile["note"], id=hostile["id"].astype("object"))
    frame.loc[9, ["note", "level"]] = frame.loc[2, ["note", "level"]].to_numpy()  # row 9 repeats row 2 but the id
    frame.loc[[10, 11], ["note", "level", "code", "y"]] = [["b", "x", 7, 1]] * 2  # 0.0 vs -0.0: equal rows
    local = profile_frame(frame, id_columns=["id"])
    assert local.duplicate_rows_ignoring_ids == 2 and local.duplicate_rows == 0
    assert local.id_like_columns == ["id"] and local.constant_columns == ["code"]
    assert local.missing_share["note"] == pytest.approx(4 / 12)
    for cuts in ([4, 8], [4, 4, 8], [0, 6], [12]):  # a partition without 'note', an empty one at each end
        for cap in (checks.DISTINCT_CAP, 2):  # within the cap, and beyond it (Dask's exact distributed count)
            same_profile(profile_frame_dask(split_at(frame, cuts), id_columns=["id"], distinct_cap=cap), local)


def test_beyond_the_cap_a_column_is_counted_by_dask(hostile: pd.DataFrame) -> None:
    """A partition with more distinct values than the cap sends none, and a union beyond the cap is dropped in the
    merge: such a column goes to Dask's exact count; the others are counted from the values sent."""
    parts = [checks._profile_part(hostile.iloc[a:b], (3, [])) for a, b in ((0, 6), (6, 12))]
    assert parts[0]["values"]["id"] is None and parts[0]["values"]["code"].tolist() == [7]
    assert sorted(parts[0]["values"]["note"]) == ["a", "b"] and sorted(parts[1]["values"]["note"]) == ["a", "b"]
    merged = checks._combine_profiles(parts, 3)
    assert merged["values"]["id"] is None and merged["values"]["amount"] is None
    assert merged["values"]["code"].tolist() == [7] and sorted(merged["values"]["level"]) == ["rare", "x"]
    assert checks._combine_profiles(parts, 1)["values"]["level"] is None  # 'rare' only in the second part
    assert merged["rows"] == 12 and merged["missing"]["note"] == 4


def test_hostile_partitions_quality_and_contract(hostile: pd.DataFrame) -> None:
    spec = DatasetSpec(path=SPECS["telco"]["path"], target="y", id_columns=["id"])
    frame = hostile.assign(id=hostile["id"].astype("category"))
    features = ["note", "level", "amount", "code"]
    y = frame["y"].to_numpy()
    scaled_frame = split_at(frame, [4, 4, 8])
    for rows in (None, np.array([9, 0, 11, 4, 5, 8, 2])):
        local = quality_report(frame, spec, features, y, rows=rows)
        assert quality_report_dask(scaled_frame, spec, features, y, rows=rows).to_dict() == local.to_dict()
    contract = infer_contract(frame.iloc[:10], features)
    assert contract.columns["level"].checks[0].statistics["allowed_values"] == ["rare", "x"]
    # 'note' all missing in one partition, 'rare' only in the last, an empty partition
    assert infer_contract_dask(split_at(frame.iloc[:10], [4, 4, 8]), features).to_json() == contract.to_json()
    batch = frame.drop(columns=["code"]).assign(amount=frame["amount"] * 3, level=["x"] * 11 + ["new"])
    local_check = validate(contract, batch)
    assert set(local_check.failures["kind"]) == {"missing column", "new category", "out of range"}
    for cuts in ([4, 8], [3, 3, 6, 9], [12]):
        assert validate_dask(contract, split_at(batch, cuts)).to_dict() == local_check.to_dict()


def test_a_column_that_is_not_numbers_in_one_partition_gets_no_range_check(hostile: pd.DataFrame) -> None:
    """'x' makes the whole column uncoercible, so pandera's range check fails on text (dropped), not on 800."""
    contract = infer_contract(hostile, ["amount", "level"])
    batch = hostile.assign(amount=pd.Series(["1", "2", "x", "4", "5", "6", "7", "800", "9", "y", "1", "2"],
                                            dtype="object"), level=["x"] * 11 + ["new"])
    local = validate(contract, batch)
    # 2 rows hold text ('x', 'y'): pandera reports each twice (coerce_dtype and dtype), the table counts rows
    assert local.failures[["kind", "count"]].values.tolist() == [["dtype", 2], ["new category", 1]]
    for cuts in ([4, 8], [3, 3, 6, 10]):
        assert validate_dask(contract, split_at(batch, cuts)).to_dict() == local.to_dict()


def test_missing_column_counts_once_not_once_per_partition(hostile: pd.DataFrame) -> None:
    contract = infer_contract(hostile, ["amount", "code"])
    report = validate_dask(contract, split_at(hostile.drop(columns=["code"]), [3, 6, 9]))
    assert report.failures.to_dict("records") == [{"column": "code", "kind": "missing column", "count": 1,
                                                  "examples": ["code"]}]


def test_take_rows_keeps_the_order_given(hostile: pd.DataFrame) -> None:
    order = np.array([11, 0, 7, 3])
    taken = take_rows(split_at(hostile, [4, 8]), order, ["id", "amount"])
    pd.testing.assert_frame_equal(taken, hostile.iloc[order][["id", "amount"]])
    pd.testing.assert_frame_equal(rows_at(lazy(hostile, 3), order).compute(scheduler="sync"),
                                  hostile.iloc[np.sort(order)])


# ------------------------------------------------------------------ random partitionings

FRAMES = st.integers(min_value=0, max_value=40).flatmap(lambda n: st.tuples(
    st.lists(st.sampled_from(["a", "b", "c", None, " "]), min_size=n, max_size=n),
    st.lists(st.one_of(st.none(), st.sampled_from([0.0, -0.0, 1.5, 2.0, np.inf])), min_size=n, max_size=n),
    st.lists(st.integers(0, 3), min_size=n, max_size=n),
    st.lists(st.integers(0, n), max_size=7),
))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FRAMES, st.integers(1, 5))
def test_merged_partition_summaries_equal_the_whole_frame(drawn, cap: int) -> None:
    text, numbers, small, cuts = drawn
    frame = pd.DataFrame({"t": pd.Series(text, dtype="object"), "c": pd.Categorical(text),
                          "f": pd.Series(numbers, dtype="float64"), "i": pd.Series(small, dtype="int64")})
    scaled = split_at(frame, sorted(cuts))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checks, "TREE_WIDTH", 2)  # a tree of merges several levels deep
        same_profile(profile_frame_dask(scaled, id_columns=["i"], distinct_cap=cap),
                     profile_frame(frame, id_columns=["i"]))
    if len(frame):
        columns = ["c", "f", "i"]
        assert infer_contract_dask(scaled, columns).to_json() == infer_contract(frame, columns).to_json()


# ------------------------------------------------------------------ on a LocalCluster (2 worker processes)

def test_on_a_local_cluster_every_check_equals_local(client, datasets) -> None:
    d = datasets["telco"]
    frame, spec, rows, features = d["frame"], d["spec"], d["rows"], d["features"]
    scaled = lazy(frame, 3)
    same_profile(profile_frame_dask(scaled, id_columns=spec.id_columns, client=client, distinct_cap=1000),
                 profile_frame(frame, id_columns=spec.id_columns))
    local = quality_report(frame, spec, features, d["target"].y, rows=rows)
    assert quality_report_dask(scaled, spec, features, d["target"].y, rows=rows, client=client).to_dict() == local.to_dict()
    kept = [c for c in features if c not in local.excluded]
    contract = infer_contract(frame.iloc[np.sort(rows)][kept], kept)
    assert infer_contract_dask(rows_at(scaled, rows), kept, client=client).to_json() == contract.to_json()
    batch = frame[kept].assign(tenure=frame["tenure"] * 2)
    expected = validate(contract, batch)
    assert not expected.passed
    assert validate_dask(contract, lazy(batch, 3), client=client).to_dict() == expected.to_dict()


def test_phase0_profiles_the_raw_parquet_set_per_partition_on_the_cluster(client, tmp_path: Path, monkeypatch) -> None:
    """Phase 0 on the Dask engine reads the raw files lazily (one partition per file) and profiles them on the
    workers: the readiness artifact's data profile is the local engine's."""
    from kit.compute import lazy as lazy_module
    from kit.config import validate_config
    from kit.readiness.assess import assess, profile_dataset, to_artifact

    raw = read_table(SPECS["telco"]["path"], None)
    raw["signed_up"] = pd.date_range("2020-01-01", periods=len(raw), freq="h")  # a time column stored as timestamps
    folder = tmp_path / "telco"
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(raw)), 3)):
        raw.iloc[part].to_parquet(folder / f"part-{i}.parquet", index=False)
    dataset = {"path": str(folder), "target": "Churn", "id_columns": ["customerID"], "time_column": "signed_up"}
    config = validate_config({"organization": {"name": "Test Org"}, "dataset": dataset,
                              "readiness": {"as_of": "2021-06-01"}})
    local = profile_dataset(config)
    assert local.numeric_text_columns == ["TotalCharges"] and local.time_max.startswith("2020-10-20")
    monkeypatch.setenv("KIT_CLUSTER", client.scheduler.address)
    calls, real = [], checks._reduced

    def spy(frame, fn, arg, combine, combine_arg, on):
        """Record where the per-partition summaries run."""
        calls.append((frame.npartitions, on))
        return real(frame, fn, arg, combine, combine_arg, on)

    monkeypatch.setattr(checks, "_reduced", spy)
    try:
        scaled = profile_dataset(config)
    finally:
        lazy_module._CLIENTS.pop(client.scheduler.address).close()
    assert calls == [(3, calls[0][1])] and calls[0][1] is not None  # one partition per file, on the cluster
    same_profile(scaled, local)
    name = config.organization.name
    artifacts = [json.dumps(to_artifact(assess(config.readiness, p, name)), sort_keys=True, default=str)
                 for p in (scaled, local)]  # as written (the pillar details hold NaN, unequal to itself in a dict)
    assert artifacts[0] == artifacts[1]
