"""A Markdown reference of every config key, generated from the config models themselves."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from kit.config import RunConfig, section_type
from kit.schema import Section


def _type_name(annotation: Any) -> str:
    """A short, readable name for a field's type."""
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    text = re.sub(r"typing\.|pathlib\.|kit\.schema\.", "", text)
    text = re.sub(r"Annotated\[(\w+), [^\]]*\]", r"\1", text)
    text = re.sub(r"Optional\[(.*)\]$", r"\1 | None", text)
    return text.replace("NoneType", "None").replace("PosixPath", "path").replace("Path", "path")


def _default(field: Any) -> str:
    """The default of a field as the YAML a user would write."""
    if field.default is not PydanticUndefined:
        value = field.default
    elif field.default_factory is not None:
        value = field.default_factory()
    else:
        return "**required**"
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, dict) and any(isinstance(v, BaseModel) for v in value.values()):
        return "bundled: " + ", ".join(f"`{k}`" for k in value)
    if value is None:
        return "`null`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return f"`{value!r}`"


def _rows(model: type[Section], prefix: str) -> list[tuple[str, str, str, str]]:
    """(key path, type, default, description) for every field, nested sections included."""
    rows = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        path = f"{prefix}{name}"
        nested = section_type(field.annotation)
        if nested is not None and nested is not model:
            rows.append((path, "section", _default(field), (field.description or nested.__doc__ or "").strip()))
            inner = path + ("[]." if _is_list(field.annotation) else ".<name>." if _is_dict(field.annotation) else ".")
            rows += _rows(nested, inner)
        else:
            rows.append((path, _type_name(field.annotation), _default(field), (field.description or "").strip()))
    return rows


def _is_list(annotation: Any) -> bool:
    """Whether an annotation is a list of something."""
    return getattr(annotation, "__origin__", None) is list or "list[" in str(annotation)


def _is_dict(annotation: Any) -> bool:
    """Whether an annotation is a mapping of names to something."""
    return getattr(annotation, "__origin__", None) is dict or "dict[" in str(annotation)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def config_reference() -> str:
    """The config reference as Markdown: one table per top-level section."""
    lines = ["# Run config reference", "",
             "Generated from the config models by `python -m kit config-reference`; do not edit by hand.",
             "Relative paths resolve against the config file's folder. Unknown keys are errors.", ""]
    top = [(n, f) for n, f in RunConfig.model_fields.items() if not f.exclude]
    lines += ["## Top level", "", "| key | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{n}` | {_type_name(f.annotation) if not section_type(f.annotation) else 'section'} "
              f"| {_default(f)} | {(f.description or '').strip()} |" for n, f in top]
    for name, field in top:
        model = section_type(field.annotation)
        if model is None:
            continue
        lines += ["", f"## `{name}`", "", (model.__doc__ or "").strip().splitlines()[0], "",
                  "| key | type | default | meaning |", "|---|---|---|---|"]
        lines += ["| " + " | ".join([f"`{p}`", _cell(t), _cell(d), _cell(m)]) + " |"
                  for p, t, d, m in _rows(model, f"{name}.")]
    return "\n".join(lines) + "\n"
