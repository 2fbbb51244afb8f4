"""YAML reading and writing through libyaml when PyYAML has it (about 6x faster than pure Python)."""
from __future__ import annotations

from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load_yaml(text: str | bytes) -> Any:
    """Parse YAML safely (plain data only, as ``yaml.safe_load``); errors carry PyYAML's own wording."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        if _Loader is yaml.SafeLoader:
            raise
    # libyaml's messages are terser (a tab is not named, for one): parse again to raise the pure-Python error
    return yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506


def dump_yaml(data: Any, **kwargs: Any) -> str:
    """Serialize plain data to YAML text (as ``yaml.safe_dump``)."""
    return yaml.dump(data, Dumper=_Dumper, **kwargs)
