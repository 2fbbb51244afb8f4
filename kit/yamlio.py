"""YAML reading and writing through libyaml when PyYAML has it (about 6x faster than pure Python).

Two departures from PyYAML's YAML 1.1 reading, both to read a config as its author wrote it:

* a key repeated in one mapping is an error (:class:`DuplicateKeyError`, naming the key and both
  lines) instead of the last value winning silently;
* an integer with a leading zero is decimal, as YAML 1.2 reads it (``seed: 010`` is 10, not the
  octal 8): nobody writes octal in a run config, and a silent 8 cannot be spotted, while 10 is
  what the file shows. Hexadecimal (``0x1f``) and binary (``0b11``) keep their YAML 1.1 meaning;
* a base-60 number (``seed: 1:30``, YAML 1.1's 90) is the text written, as YAML 1.2 reads it.
"""
from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError

_CLoader = getattr(yaml, "CSafeLoader", None)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

_LEADING_ZERO = re.compile(r"[-+]?0[0-7_]+")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(ConstructorError):
    """A key that occurs twice in the same YAML mapping."""


class _AsWritten:
    """Constructor overrides shared by the libyaml and the pure-Python loader."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, refusing a key that occurs twice (merge keys ``<<`` may be overridden)."""
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)  # type: ignore[attr-defined]
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: PyYAML reports it below
                    continue
                if first is not key_node.start_mark:
                    raise DuplicateKeyError(
                        "while reading a mapping", node.start_mark,
                        f"duplicate key {key!r} (first at line {first.line + 1}); keep only one of them",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """An integer as written: a leading zero does not make it octal (YAML 1.2)."""
        value = self.construct_scalar(node)  # type: ignore[attr-defined]
        if _LEADING_ZERO.fullmatch(value):
            return int(value.replace("_", ""), 10)
        if ":" in value:  # YAML 1.1 base 60 (1:30 is 90): kept as the text written, as YAML 1.2 reads it
            return value  # type: ignore[return-value]
        return super().construct_yaml_int(node)  # type: ignore[misc]

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        """A float as written: base 60 (``1:30.5``) stays text (YAML 1.2)."""
        value = self.construct_scalar(node)  # type: ignore[attr-defined]
        if ":" in value:
            return value  # type: ignore[return-value]
        return super().construct_yaml_float(node)  # type: ignore[misc]


class _PureLoader(_AsWritten, yaml.SafeLoader):
    """PyYAML's pure-Python safe loader, reading as written."""


_PureLoader.add_constructor("tag:yaml.org,2002:int", _AsWritten.construct_yaml_int)
_PureLoader.add_constructor("tag:yaml.org,2002:float", _AsWritten.construct_yaml_float)

if _CLoader is not None:
    class _FastLoader(_AsWritten, _CLoader):  # type: ignore[valid-type, misc]
        """libyaml's safe loader, reading as written."""

    _FastLoader.add_constructor("tag:yaml.org,2002:int", _AsWritten.construct_yaml_int)
    _FastLoader.add_constructor("tag:yaml.org,2002:float", _AsWritten.construct_yaml_float)
    _Loader: type = _FastLoader
else:
    _Loader = _PureLoader


def load_yaml(text: str | bytes) -> Any:
    """Parse YAML safely (plain data only); errors carry PyYAML's own wording, duplicate keys are errors."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except DuplicateKeyError:
        raise
    except yaml.YAMLError:
        if _Loader is _PureLoader:
            raise
    # libyaml's messages are terser (a tab is not named, for one): parse again to raise the pure-Python error
    return yaml.load(text, Loader=_PureLoader)  # noqa: S506


def dump_yaml(data: Any, **kwargs: Any) -> str:
    """Serialize plain data to YAML text (as ``yaml.safe_dump``)."""
    return yaml.dump(data, Dumper=_Dumper, **kwargs)
