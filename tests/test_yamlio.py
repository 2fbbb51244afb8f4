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
