"""The kit's YAML reader: same data as PyYAML's safe loader, and just as safe."""
from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kit.content import CONTENT_DIR
from kit.yamlio import dump_yaml, load_yaml

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@pytest.mark.parametrize("path", sorted(CONTENT_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_content_reads_as_with_pure_python_safe_loader(path):
    assert load_yaml(path.read_text(encoding="utf-8")) == yaml.safe_load(path.read_text(encoding="utf-8"))


@given(documents)
def test_dump_then_load_round_trips(doc):
    assert load_yaml(dump_yaml(doc)) == doc


def test_refuses_python_objects():
    with pytest.raises(yaml.YAMLError):
        load_yaml("x: !!python/object/apply:os.system ['true']")


@pytest.mark.parametrize("text", ["a:\n\tb: 1\n", "a: [1, 2\nb: 3\n", "a:\n  b: 1\n c: 2\n"],
                         ids=["tab", "unclosed", "indent"])
def test_errors_carry_the_pure_python_wording_and_position(text):
    with pytest.raises(yaml.YAMLError) as ours:
        load_yaml(text)
    with pytest.raises(yaml.YAMLError) as reference:
        yaml.safe_load(text)
    assert str(ours.value) == str(reference.value)
    assert ours.value.problem_mark.line == reference.value.problem_mark.line


@pytest.mark.parametrize("loader", ["fast", "pure"])
def test_duplicate_key_is_refused_naming_key_and_lines(loader, monkeypatch):
    import kit.yamlio as yamlio

    if loader == "pure":
        monkeypatch.setattr(yamlio, "_Loader", yamlio._PureLoader)
    text = "name: run\nseed: 1\ntraining:\n  bootstrap: 10\n  bootstrap: 20\n"
    with pytest.raises(yamlio.DuplicateKeyError) as err:
        load_yaml(text)
    assert "duplicate key 'bootstrap' (first at line 4)" in err.value.problem
    assert err.value.problem_mark.line + 1 == 5


def test_top_level_duplicate_is_refused_and_merge_keys_still_override():
    from kit.yamlio import DuplicateKeyError

    with pytest.raises(DuplicateKeyError, match="duplicate key 'seed' \\(first at line 1\\)"):
        load_yaml("seed: 1\nname: x\nseed: 2\n")
    assert load_yaml("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 3\n")["d"] == {"x": 3, "y": 2}
    assert load_yaml("a: {x: 1}\nb: {x: 1}\n") == {"a": {"x": 1}, "b": {"x": 1}}  # same key, other mapping


@pytest.mark.parametrize(("text", "value"), [("010", 10), ("-007", -7), ("0", 0), ("0_10", 10), ("1_000", 1000),
                                             ("0x1f", 31), ("0b11", 3), ("'010'", "010"), ("010.5", 10.5),
                                             ("1:30", "1:30"), ("-1:30", "-1:30"), ("1:30.5", "1:30.5"), ("1.5", 1.5)])
def test_numbers_read_as_written(text, value):
    assert load_yaml(f"seed: {text}\n") == {"seed": value}
    assert type(load_yaml(f"seed: {text}\n")["seed"]) is type(value)


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=1, max_value=3))
def test_leading_zeros_never_change_an_integer(n, zeros):
    assert load_yaml(f"v: {'0' * zeros}{n}\n")["v"] in (n, f"{'0' * zeros}{n}")  # 08, 09: YAML 1.1 text
    if set(str(n)) <= set("01234567"):
        assert load_yaml(f"v: {'0' * zeros}{n}\n")["v"] == n
