"""Config loading: valid configs load; every kind of mistake gets a message naming key and fix."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kit.config import load_config, validate_config
from kit.errors import ConfigError, did_you_mean

ROOT = Path(__file__).resolve().parent.parent
TELCO = ROOT / "data" / "telco_churn" / "Telco-Customer-Churn.csv"


def write(tmp_path: Path, data: dict | str, name: str = "run.yaml") -> Path:
    """Write a config file and return its path."""
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def minimal(**overrides) -> dict:
    """A minimal valid config: organization and dataset."""
    data = {
        "organization": {"name": "Acme"},
        "dataset": {"path": str(TELCO), "target": "Churn", "positive_class": "Yes",
                    "sensitive": ["gender"], "id_columns": ["customerID"]},
    }
    data.update(overrides)
    return data


def test_demo_config_loads() -> None:
    config = load_config(ROOT / "data" / "configs" / "demo.yaml")
    assert config.name == "demo"
    assert config.dataset is not None and config.dataset.path == TELCO
    assert len(config.source_sha256) == 64


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "data.csv").write_bytes(TELCO.read_bytes()[:5000].rsplit(b"\n", 1)[0] + b"\n")
    path = write(tmp_path / "sub", minimal(dataset={"path": "../data.csv", "target": "Churn"}))
    config = load_config(path)
    assert config.dataset.path == (tmp_path / "data.csv").resolve()
    assert config.data_files() == [(tmp_path / "data.csv").resolve()]


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, minimal(), "north_unit.yaml")).name == "north_unit"


def test_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_bad_yaml_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "organization:\n  name: Acme\n bad: [1, 2\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+, column \d+"):
        load_config(path)


@pytest.mark.parametrize(("data", "found"), [
    (b"organization: {name: \"Caf\xe9\"}\n", "not valid YAML at position 25: not UTF-8 text (invalid continuation byte: 0xe9)"),
    (b"organization: {name: a\x07}\n", "not valid YAML at position 22: a control character no YAML file may hold"),
], ids=["latin-1", "control"])
def test_a_config_that_is_not_utf8_text_is_one_line_with_the_fix(tmp_path: Path, data: bytes, found: str) -> None:
    path = tmp_path / "run.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert found in str(err.value) and str(err.value).endswith("save the config as plain UTF-8 text")
    assert "\n" not in str(err.value)


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a YAML mapping"):
        load_config(write(tmp_path, "- just\n- a list\n"))


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    data = minimal()
    data["organisation"] = data.pop("organization")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, data))
    text = str(err.value)
    assert "organisation: unknown key; did you mean 'organization'?" in text
    assert "organization: required key is missing" in text


def test_unknown_nested_key(tmp_path: Path) -> None:
    data = minimal()
    data["dataset"]["targt"] = "Churn"
    with pytest.raises(ConfigError, match=r"dataset\.targt: unknown key; did you mean 'target'\?"):
        load_config(write(tmp_path, data))


def test_target_typo_names_column_file_and_suggestion(tmp_path: Path) -> None:
    data = minimal()
    data["dataset"]["target"] = "Churn "
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, data))
    assert "dataset.target: column 'Churn ' not in Telco-Customer-Churn.csv; did you mean 'Churn'?" in str(err.value)


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    data = minimal(seed="abc")
    data["dataset"]["sensitive"] = ["gendr", "SeniorCitizen"]
    data["dataset"]["id_columns"] = ["customer_id"]
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, data))
    assert "seed:" in str(err.value) and "found 'abc'" in str(err.value)
    data["seed"] = 1
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, data))
    text = str(err.value)
    assert "2 problem(s)" in text
    assert "dataset.sensitive: column 'gendr'" in text and "did you mean 'gender'?" in text
    assert "dataset.id_columns: column 'customer_id'" in text and "did you mean 'customerID'?" in text


def test_negative_seed_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"seed: .*greater than or equal to 0"):
        load_config(write(tmp_path, minimal(seed=-1)))


def test_missing_data_file(tmp_path: Path) -> None:
    data = minimal()
    data["dataset"]["path"] = "missing.csv"
    with pytest.raises(ConfigError, match=r"dataset\.path: .*missing\.csv: file not found"):
        load_config(write(tmp_path, data))


def test_validate_config_without_a_file() -> None:
    config = validate_config(minimal())
    assert config.organization.name == "Acme" and config.seed == 42


@pytest.mark.parametrize(
    ("word", "options", "expected"),
    [("Churn ", ["Churn", "gender"], "; did you mean 'Churn'?"),
     ("CHURN", ["Churn"], "; did you mean 'Churn'?"),
     ("zzz", ["Churn"], "")],
)
def test_did_you_mean(word: str, options: list[str], expected: str) -> None:
    assert did_you_mean(word, options) == expected


def test_config_reference_is_up_to_date() -> None:
    from kit.config_reference import config_reference

    text = config_reference()
    assert (ROOT / "docs" / "CONFIG.md").read_text() == text, "run: python -m kit config-reference > docs/CONFIG.md"
    for key in ("`dataset.target`", "`training.baseline_margin`", "`monitoring.", "`readiness.answers`"):
        assert key in text
    assert "Annotated" not in text and "Optional[" not in text


def test_config_reference_explains_every_key() -> None:
    from kit.config_reference import config_reference

    rows = [line for line in config_reference().splitlines() if line.startswith("| `")]
    assert len(rows) > 100
    unexplained = [row.split("|")[1].strip() for row in rows if row.rstrip().endswith("|  |")]
    assert unexplained == [], "give these config fields a description="
    assert "`monitoring.scenarios.<name>.injections[].kind`" in "\n".join(rows)  # mapping and list keys spelled as written
    assert "ScenarioSpec(" not in "\n".join(rows)  # defaults as a user would write them, not Python reprs


def test_duplicate_key_names_key_and_line(tmp_path: Path) -> None:
    text = yaml.safe_dump(minimal()) + "seed: 1\nseed: 7\n"
    lines = text.count("\n")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert f"line {lines}," in str(err.value) and "indentation" not in str(err.value)
    assert f"duplicate key 'seed' (first at line {lines - 1})" in str(err.value)


def test_octal_looking_seed_is_read_as_written(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, yaml.safe_dump(minimal()) + "seed: 010\n"))
    assert config.seed == 10


@pytest.mark.parametrize("word", ["yes", "true", "on", "no"])
def test_a_yaml_boolean_is_never_read_as_a_number(tmp_path: Path, word: str) -> None:
    text = yaml.safe_dump(minimal()) + f"seed: {word}\ntraining: {{bootstrap: {word}}}\nreadiness: {{declared_level: {word}}}\n"
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    for key in ("seed", "training.bootstrap", "readiness.declared_level"):
        assert f"{key}: expected a number, but YAML read this as the boolean" in str(err.value)
    booleans = yaml.safe_dump(minimal(training={"track": False}, readiness={"red_flags": {"no_rollback": True}}))
    assert load_config(write(tmp_path, booleans)).training.track is False  # boolean keys still take booleans


@pytest.mark.parametrize("seed", [2**32, 2**64, 10**30])
def test_seed_beyond_32_bits_is_refused(tmp_path: Path, seed: int) -> None:
    with pytest.raises(ConfigError, match=r"seed: .*less than or equal to 4294967295"):
        validate_config(minimal(seed=seed))


def test_largest_seed_is_accepted_and_usable() -> None:
    import numpy as np
    from sklearn.model_selection import train_test_split

    config = validate_config(minimal(seed=2**32 - 1))
    np.random.RandomState(config.seed)  # the strictest consumer: raises beyond 2**32 - 1
    train_test_split(list(range(10)), random_state=config.seed)


@pytest.mark.parametrize("name", ["../../../x", "a/b", "/tmp/abs", "..", ".", ".hidden", "a\\b", "a b", "", "-x",
                                  "x" * 101, "ü/..", "a\nb"])
def test_run_name_must_be_one_folder_name(name: str) -> None:
    with pytest.raises(ConfigError, match=r"name: must be one folder name .*letters A-Z a-z, digits"):
        validate_config(minimal(name=name))


@pytest.mark.parametrize("name", ["demo", "churn-pilot_2024", "v1.2", "_x", "x" * 100])
def test_plain_run_names_are_accepted(name: str) -> None:
    assert validate_config(minimal(name=name)).name == name


def test_keys_the_kit_fills_in_are_neither_settable_nor_suggested(tmp_path: Path) -> None:
    text = yaml.safe_dump(minimal()) + "source_sha256: forged\nsource_path: /etc\nsed: 1\n"
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    message = str(err.value)
    assert "3 problem(s)" in message and "source_sha256: unknown key" in message and "source_path: unknown key" in message
    assert "sed: unknown key; did you mean 'seed'?" in message
    assert "allowed keys here: compute, dataset, explainability, monitoring, name, organization, readiness, seed, training, use_cases" in message


def test_production_files_are_checked_when_the_config_loads(tmp_path: Path) -> None:
    """A missing file, a ';' file read as one column and a repeated header: named at `kit check`, not after three
    phases (a repeated 'tenure' was silently read as 'tenure.1', and drift and scores used a column of zeros)."""
    import pandas as pd

    rows = pd.read_csv(TELCO, nrows=50)
    rows.to_csv(tmp_path / "ok.csv", index=False)
    rows.to_csv(tmp_path / "semi.csv", index=False, sep=";")
    pd.concat([rows.iloc[:, :5], pd.Series(0, index=rows.index, name="tenure"), rows.iloc[:, 5:]], axis=1).to_csv(
        tmp_path / "dup.csv", index=False)
    files = ["ok.csv", "semi.csv", "dup.csv", "nope.csv"]
    with pytest.raises(ConfigError, match="3 problem") as err:
        load_config(write(tmp_path, minimal(monitoring={"production": {"files": files}})))
    lines = str(err.value).splitlines()[1:]
    assert lines[0].strip().startswith("monitoring.production.files[1]: semi.csv reads as one column")
    assert "set monitoring.production.read_options: {sep: \";\"}" in lines[0]
    assert lines[1].strip().startswith("monitoring.production.files[2]: dup.csv names column(s) 'tenure' more than once")
    assert lines[2].strip().startswith("monitoring.production.files[3]: ") and "nope.csv not found" in lines[2]
    good = load_config(write(tmp_path, minimal(monitoring={"production": {"files": ["ok.csv", "semi.csv"],
                                                                          "read_options": {"sep": ","}}})))
    assert [p.name for p in good.monitoring.production.files] == ["ok.csv", "semi.csv"]  # the user's call: read as told
