"""Fuzz: hostile configs and CSVs end in success or a named, one-line-per-problem error, never a traceback.

`kit check` runs on many generated examples (it is fast); a few examples also run the first three
phases, which must end in a report or a named one-line error, changing no file outside the run folder.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from kit.__main__ import main
from kit.yamlio import dump_yaml

HOSTILE_TEXT = ["", " ", "Yes", "No", "yes", "1", "0", "<b>x</b>", "<script>alert(1)</script>", "a\"b", "'q'",
                "O'Brien", "x,y", "[a]", "a<b", "{k}", "é", "日本語", "🙂", "\t", "NaN", "null", "~", "-", "..",
                "../x", "1e309", "-1e309", "inf", "-inf", "9" * 40, "1,234.5", "3,14", "1.234,5", "#", "=cmd()"]
text = st.sampled_from(HOSTILE_TEXT) | st.text(max_size=12)
cell = st.sampled_from(HOSTILE_TEXT) | st.text(max_size=8) | st.floats(allow_nan=True).map(repr) \
    | st.integers(min_value=-(10**30), max_value=10**30).map(str) | st.sampled_from(["Yes", "No"] * 6)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """A small CSV (bytes) with hostile headers and cells, ragged rows, maybe a BOM; and its header names."""
    headers = draw(st.lists(text, min_size=1, max_size=5))
    if draw(st.booleans()):
        headers = [*headers, "y"]
    n_cols = len(headers)
    rows = draw(st.lists(st.lists(cell, min_size=max(n_cols - 1, 0), max_size=n_cols + (1 if draw(st.booleans()) else 0)),
                         max_size=40))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    prefix = "\ufeff" if draw(st.booleans()) else ""
    return (prefix + buffer.getvalue()).encode("utf-8"), headers


read_options = st.sampled_from([{}, {}, {"sep": ";"}, {"thousands": ","}, {"decimal": ","}, {"chunksize": 2},
                                {"nrows": "x"}, {"dtype": "weird"}, {"encoding": "latin-1"}, {"encoding": "bogus"},
                                {"index_col": 0}, {"header": 3}, {"bad_option": True}, {"usecols": ["zz"]}])


@st.composite
def configs(draw: st.DrawFn, headers: list[str]) -> str:
    """Run config YAML text with hostile values, sometimes duplicate keys or an octal-looking seed."""
    column = st.sampled_from(headers) | text if headers else text
    dataset = {"path": "data.csv", "target": draw(column)}
    if draw(st.booleans()):
        dataset["positive_class"] = draw(st.sampled_from([True, False, "Yes", 1, 1.5, None]) | text)
    for key in ("sensitive", "id_columns", "drop_columns"):
        if draw(st.booleans()):
            dataset[key] = draw(st.lists(column, max_size=2))
    dataset["read_options"] = draw(read_options)
    data = {"organization": {"name": draw(text)}, "dataset": dataset, "training": {"track": False, "bootstrap": 20}}
    if draw(st.booleans()):
        data["name"] = draw(text)
    if draw(st.booleans()):
        data["seed"] = draw(st.integers(min_value=-5, max_value=2**70))
    yaml_text = dump_yaml(data, allow_unicode=draw(st.booleans()), sort_keys=False)
    extra = draw(st.sampled_from(["", "", "seed: 010\n", "seed: 1\nseed: 2\n", "unknown_key: 1\n", "dataset: [\n"]))
    return yaml_text + extra


@st.composite
def examples(draw: st.DrawFn) -> tuple[bytes, str]:
    """A CSV and a config that points at it."""
    data, headers = draw(csv_files())
    return data, draw(configs(headers))


HOSTILE_NAMES = ["Air temperature [K]", "a<b", "<b>bold</b>", 'say "hi"', "k:v,w", "{x}", "日本語 列", "🙂", "",
                 "O'Brien", "x", "x", "tab\tname", "=SUM(A1)", "a" * 80]
numeric_cell = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(repr) \
    | st.sampled_from(["", "inf", "-inf", "1e308", "9" * 30, " 7 "])  # separators: see test_bad_input.py
text_cell = st.sampled_from(HOSTILE_TEXT)


@st.composite
def runnable_examples(draw: st.DrawFn) -> tuple[bytes, str]:
    """A CSV that passes `kit check` (binary target, enough rows) but whose names and cells are hostile."""
    rows = 210  # training.min_rows is 200
    names = draw(st.lists(st.sampled_from(HOSTILE_NAMES), min_size=1, max_size=3))
    kinds = [draw(st.sampled_from(["numeric", "text"])) for _ in names]
    columns = [draw(st.lists(numeric_cell if kind == "numeric" else text_cell, min_size=rows, max_size=rows))
               for kind in kinds]
    signal = [str(i % 7) for i in range(rows)]  # a real feature, so a model has something to learn
    labels = ["Yes" if (i % 7) >= 4 or i % 11 == 0 else "No" for i in range(rows)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*names, "signal", "y"])
    writer.writerows(zip(*columns, signal, labels))
    prefix = "\ufeff" if draw(st.booleans()) else ""
    data = {"name": "fuzz", "organization": {"name": draw(text)},
            "dataset": {"path": "data.csv", "target": "y", "positive_class": "Yes"},
            "training": {"track": False, "bootstrap": 20, "max_trees": 30, "algorithms": ["xgboost"]}}
    return (prefix + buffer.getvalue()).encode("utf-8"), dump_yaml(data, allow_unicode=True)


def write_example(folder: Path, example: tuple[bytes, str]) -> Path:
    """Write data.csv and run.yaml into ``folder``; return the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.csv").write_bytes(example[0])
    config = folder / "run.yaml"
    config.write_text(example[1], encoding="utf-8")
    return config


def kit_error_names() -> set[str]:
    """Names of every KitError class (a failed phase must name one of them, not a library's error)."""
    import kit.explain.shapley  # noqa: F401 - defines ModelFileError
    from kit.errors import KitError

    found, todo = set(), [KitError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo += cls.__subclasses__()
    return found


def assert_named_error(stderr: str, code: int) -> None:
    """A clean failure: 'error: ...' or 'failed: phase P: SomeKitError: ...', no traceback; one line per problem."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.rstrip("\n").split("\n")
    assert lines[0].startswith("error: " if code == 2 else "failed: "), stderr
    if code == 1:
        named = re.match(r"failed: phase \w+: (\w+): ", lines[0])
        assert named and named.group(1) in kit_error_names(), stderr
    counted = re.search(r": (\d+) problem\(s\)$", lines[0])
    if counted:
        assert len(lines) == 1 + int(counted.group(1)), stderr  # one line per problem
        assert all(line.startswith("  ") and line.strip() for line in lines[1:]), stderr
    else:
        assert len(lines) == 1, stderr


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])
@given(example=examples())
def test_check_ends_in_success_or_a_named_config_error(example, tmp_path_factory, capsys) -> None:
    config = write_example(tmp_path_factory.mktemp("fuzz"), example)
    code = main(["check", str(config)])
    captured = capsys.readouterr()
    assert code in (0, 2), captured.err
    if code == 2:
        assert_named_error(captured.err, code)
    else:
        assert captured.out.endswith("valid (run name 'run')\n") or "valid (run name" in captured.out


def snapshot(root: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, str]]:
    """Every file under ``root`` but the skipped folders: size and sha256."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(path.is_relative_to(s) for s in skip):
            found[str(path.relative_to(root))] = (path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return found


@settings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking:
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # a run takes seconds
@given(example=runnable_examples())
def test_first_three_phases_end_in_a_report_or_a_named_error(example, tmp_path_factory, capsys, monkeypatch) -> None:
    root = tmp_path_factory.mktemp("fuzzrun")
    monkeypatch.setenv("KIT_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    config = write_example(root / "in", example)
    out = root / "out"
    watched = Path(__file__).resolve().parents[1] / "reports"
    before, before_reports = snapshot(root, (out,)), snapshot(watched, ()) if watched.is_dir() else {}
    code = main(["run", str(config), "--out", str(out), "--phases", "readiness,use_cases,training"])
    captured = capsys.readouterr()
    assert code in (0, 1, 2), captured.err
    if code == 0:
        assert (out / "index.html").is_file() and (out / "artifacts" / "training.json").is_file()
    else:
        assert_named_error(captured.err, code)
        if code == 1:  # the failed run's report: in place, or beside an existing one
            assert (out / "index.html").is_file() or (root / "out.failed" / "index.html").is_file()
    outside = snapshot(root, (out, root / "out.failed"))
    assert outside == before, set(outside) ^ set(before)
    assert (snapshot(watched, ()) if watched.is_dir() else {}) == before_reports
