"""One place for escaping user strings, per output format: HTML, Markdown, matplotlib labels, pandas Stylers and CSV."""
from __future__ import annotations

import html as _html
import re
from pathlib import Path
from typing import Any

# ASCII punctuation that Markdown (CommonMark/GFM, Jupyter's renderers, nbconvert's mistune) gives a meaning:
# emphasis, code, links and images, raw HTML, entities, headings, tables, strikethrough and math ($).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>&#!|~$])")
_BREAKS = re.compile(r"[\r\n\t\f\v\u2028\u2029]+")


def _text(value: Any) -> str:
    """A value as text (None as an empty string)."""
    return "" if value is None else str(value)


def html(value: Any) -> str:
    """Text safe inside HTML element content and quoted attributes."""
    return _html.escape(_text(value), quote=True)


def md(value: Any) -> str:
    """Text safe inline in Markdown: reads the same once rendered, never a link, image, HTML, math or a new block."""
    return _MD_SPECIAL.sub(r"\\\1", _BREAKS.sub(" ", _text(value)))


def md_code(value: Any) -> str:
    """Text as an inline Markdown code span (shown verbatim; backticks inside are lengthened around)."""
    text = _BREAKS.sub(" ", _text(value))
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def label(value: Any) -> str:
    """Text for a matplotlib label: a literal `$` never switches to mathtext."""
    return _text(value).replace("$", r"\$")


def labels(values: Any) -> list[str]:
    """Many matplotlib labels at once."""
    return [label(v) for v in values]


def styler(frame: Any, formatter: Any = None, **format_kwargs: Any) -> Any:
    """A Styler of ``frame`` with every cell, header, index label and axis name HTML-escaped (and no MathJax).

    ``formatter`` and ``format_kwargs`` go to ``Styler.format``; a dict formatter styles its columns and every
    other column keeps the escaped default.
    """
    names = {"index": [None if n is None else html(n) for n in frame.index.names],
             "columns": [None if n is None else html(n) for n in frame.columns.names]}
    s = frame.rename_axis(index=names["index"], columns=names["columns"]).style
    s = s.format(escape="html", **({} if isinstance(formatter, dict) else format_kwargs))
    if formatter is not None:
        s = s.format(formatter, escape="html", **format_kwargs)
    s = s.format_index(escape="html", axis=0).format_index(escape="html", axis=1)
    return s.set_table_attributes('class="tex2jax_ignore"')  # MathJax in the HTML report leaves a `$` in a cell as text


def plain_tables() -> None:
    """Mark every pandas HTML table so the report's MathJax leaves a `$` in a cell as text (call once per kernel)."""
    import pandas as pd

    pd.set_option("display.html.use_mathjax", False)
    pd.set_option("styler.html.mathjax", False)


# A spreadsheet opening a CSV runs a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(values: Any) -> Any:
    """Text cells that a spreadsheet would run as a formula, prefixed with ``'`` so they read as the text they are."""
    import pandas as pd

    values = pd.Series(values, dtype=object)
    text = values.astype("string")
    risky = text.str.startswith(_FORMULA_START).fillna(False) & values.map(type).eq(str)
    return values.mask(risky.to_numpy(bool), "'" + text.astype(object))


def to_csv(frame: Any, path: str | Path, index: bool = False) -> Path:
    """Write ``frame`` as CSV with every text cell, header and index label safe to open in a spreadsheet."""
    import pandas as pd

    safe = frame.reset_index() if index else frame.copy()
    for column in safe.columns:
        if pd.api.types.is_object_dtype(safe[column]) or isinstance(safe[column].dtype, (pd.CategoricalDtype,
                                                                                           pd.StringDtype)):
            safe[column] = csv_text(safe[column].to_numpy(dtype=object)).to_numpy()
    safe.columns = csv_text([str(c) for c in safe.columns]).tolist()
    safe.to_csv(path, index=False)
    return Path(path)
