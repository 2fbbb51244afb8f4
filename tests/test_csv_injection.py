"""CSVs the kit writes are safe to open in a spreadsheet: a user's text never runs as a formula (OWASP CSV injection)."""
from __future__ import annotations

import csv
import dataclasses
import string
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from kit import escape

FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _read(path: Path) -> pd.DataFrame:
    """The CSV as text cells, exactly as a spreadsheet receives them (the csv module keeps a row of one space)."""
    with path.open(newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    return pd.DataFrame(rows, columns=header, dtype=object)


def test_formula_cells_headers_and_categories_are_neutralised_and_numbers_kept(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "row_id": ['=HYPERLINK("http://x","click")', "7590-VHVEG", "-2+3", "@SUM(A1:A9)", None],
        "probability": [-0.5, 0.25, 0.0, 1.0, 0.75],
        "=cmd|' /C calc'!A0": pd.Categorical(["+1", "Yes", "No", "Yes", "No"]),
        "flag": [True, False, True, False, True],
    })
    got = _read(escape.to_csv(frame, tmp_path / "x.csv"))
    assert list(got.columns) == ["row_id", "probability", "'=cmd|' /C calc'!A0", "flag"]
    assert got["row_id"].tolist() == ["'=HYPERLINK(\"http://x\",\"click\")", "7590-VHVEG", "'-2+3", "'@SUM(A1:A9)", ""]
    assert got["probability"].tolist() == ["-0.5", "0.25", "0.0", "1.0", "0.75"]  # numbers stay numbers, sign too
    assert got.iloc[:, 2].tolist() == ["'+1", "Yes", "No", "Yes", "No"]
    assert got["flag"].tolist() == ["True", "False", "True", "False", "True"]
    assert frame["row_id"].iloc[0].startswith("=")  # the caller's frame is untouched


def test_index_is_written_as_a_safe_first_column(tmp_path: Path) -> None:
    table = pd.DataFrame({"auc": [0.8, 0.7]}, index=pd.Index(["@gender", "age"], name="input"))
    got = _read(escape.to_csv(table, tmp_path / "x.csv", index=True))
    assert got.to_dict("list") == {"input": ["'@gender", "age"], "auc": ["0.8", "0.7"]}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet=string.printable, max_size=12), st.floats(allow_nan=False),
                          st.integers(), st.none()), min_size=1, max_size=20))
def test_only_text_that_starts_a_formula_is_prefixed(values: list) -> None:
    got = escape.csv_text(values).tolist()
    expected = ["'" + v if isinstance(v, str) and v.startswith(FORMULA) else v for v in values]
    assert got == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet=string.ascii_letters + string.digits + "=+-@\t,\"' ;|!()", min_size=1, max_size=12),
                min_size=1, max_size=20))
def test_no_written_cell_starts_a_formula(tmp_path_factory, texts: list[str]) -> None:
    path = escape.to_csv(pd.DataFrame({"text": texts}), tmp_path_factory.mktemp("csv") / "x.csv")
    cells = _read(path)["text"].tolist()
    assert not any(c.startswith(FORMULA) for c in cells)
    assert cells == ["'" + t if t.startswith(FORMULA) else t for t in texts]


def test_reason_codes_and_review_queue_of_a_hostile_dataset_are_safe(tmp_path_factory) -> None:
    """Phase 3's CSVs on real run artifacts, with customer ids and a feature name a spreadsheet would execute."""
    from kit.explain import phase
    from kit.notebook import start
    from test_explain_fixtures import make_run

    run_dir = tmp_path_factory.mktemp("hostile_explain")
    ctx = start(make_run(run_dir, "lightgbm", register=False), run_dir)
    inputs = phase.load_inputs(ctx)
    hostile = ("=HYPERLINK(\"http://evil\",\"x\")-" + inputs.ids.astype(str)).rename(inputs.ids.name)
    inputs = dataclasses.replace(inputs, ids=hostile, out_dir=tmp_path_factory.mktemp("out"))
    reasons = phase.export_reason_codes(inputs)
    queue = phase.build_review_queue(inputs, reasons)
    for path in (reasons.path, inputs.out_dir / "review_queue.csv"):
        cells = _read(path)
        assert len(cells) > 0
        assert cells["row_id"].str.startswith("'=HYPERLINK").all(), path.name
        text = cells.apply(lambda col: pd.to_numeric(col, errors="coerce").isna())  # numbers keep their sign
        assert not (text & cells.apply(lambda col: col.str.startswith(FORMULA))).any().any(), path.name
    assert reasons.table["row_id"].str.startswith("=").all()  # the in-memory table keeps the true ids
