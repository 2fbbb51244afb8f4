"""The frameworks the kit encodes, stored as YAML data beside this file."""
from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from kit.yamlio import load_yaml

CONTENT_DIR = Path(__file__).parent


@cache
def load(name: str) -> dict[str, Any]:
    """Load the content file ``<name>.yaml`` (cached; treat the result as read-only)."""
    return load_yaml((CONTENT_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
