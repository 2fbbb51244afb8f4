"""User strings never become live HTML, links, scripts or math: escaping helpers, display modules and the whole chain."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TELCO = ROOT / "data" / "telco_churn" / "Telco-Customer-Churn.csv"
PORTFOLIO = ROOT / "data" / "use_cases" / "portfolio.csv"
DEMO = ROOT / "data" / "configs" / "demo.yaml"

# ---- payloads --------------------------------------------------------------------------------------
ORG = "Acme <script>alert('org')</script> & [x](javascript:alert(1))"
OWNER = "Risk <img src=x onerror=alert('owner')> *team*"
USE_CASE = "Churn <script>alert(2)</script> [x](javascript:alert(3)) $a$"
KPI = "Churn rate <img src=x onerror=alert(4)> ![i](javascript:alert(5)) | _x_"
GROUP = "Female <script>alert(6)</script>"
CATEGORY = "Month <img src=x onerror=alert(7)> [m](javascript:alert(8)) $m$"
# Column names: no `[`, `]` or `<` yet (they crash XGBoost's feature names; fixed elsewhere).
COLUMN = "Tenure \"quoted\" & 'x' > $t$ *c* #h"
VISIBLE = ["<script>alert(2)</script>", "onerror=alert(4)", "[x](javascript:alert(3))"]


class Scan(HTMLParser):
    """Collects scripts, event-handler attributes, javascript: URLs and the visible text of a page."""

    def __init__(self) -> None:
        """Empty findings."""
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.handlers: list[tuple[str, str]] = []
        self.js_urls: list[str] = []
        self.text: list[str] = []
        self.tags: set[str] = set()
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Record every element, script tags, on* attributes and javascript: URLs."""
        self.tags.add(tag)
        if tag == "script":
            self._in_script = True
            self.scripts.append(dict(attrs).get("src") or "")
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.handlers.append((tag, name))
            if value and value.strip().lower().replace("\x00", "").startswith(("javascript:", "vbscript:")):
                self.js_urls.append(value)

    def handle_endtag(self, tag: str) -> None:
        """Leave a script."""
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        """Script bodies go to the script list, everything else is visible text."""
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)


def scan(html_text: str) -> Scan:
    """Parse a page."""
    parser = Scan()
    parser.feed(html_text)
    parser.close()
    return parser


def payload_inputs(folder: Path) -> Path:
    """Telco data, a portfolio and a config carrying the payloads; returns the config path."""
    data = pd.read_csv(TELCO)
    data["gender"] = data["gender"].replace({"Female": GROUP})
    data["Contract"] = data["Contract"].replace({"Month-to-month": CATEGORY})
    data = data.rename(columns={"tenure": COLUMN})
    data.to_csv(folder / "telco.csv", index=False)
    portfolio = pd.read_csv(PORTFOLIO)
    churn = portfolio["name"] == "Churn prediction"
    portfolio.loc[churn, ["name", "kpi_name", "dataset_path"]] = [USE_CASE, KPI, "telco.csv"]
    portfolio.loc[portfolio["name"] == "Credit risk scoring", "kpi_name"] = KPI + " 2"
    linked = portfolio["dataset_path"].notna() & ~churn
    portfolio.loc[linked, "dataset_path"] = [str((PORTFOLIO.parent / p).resolve()) for p in portfolio.loc[linked, "dataset_path"]]
    portfolio.to_csv(folder / "portfolio.csv", index=False)
    config = yaml.safe_load(DEMO.read_text())
    config["name"] = "payloads"
    config["organization"].update(name=ORG, owner=OWNER)
    config["use_cases"].update(portfolio_path="portfolio.csv", pilot=USE_CASE, pilot_reason="payload test " + OWNER)
    config["dataset"]["path"] = "telco.csv"
    config["training"].update(algorithms=["xgboost"], bootstrap=30)
    config["monitoring"].update(n_batches=4, batch_size=400)
    path = folder / "payloads.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def payload_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One whole chain run on the payload inputs (the slow part, shared by the chain checks)."""
    tmp = tmp_path_factory.mktemp("payloads")
    config = payload_inputs(tmp)
    env = {**os.environ, "KIT_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"}
    proc = subprocess.run([sys.executable, "-m", "kit", "run", str(config), "--out", str(tmp / "run")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp / "run"


@pytest.fixture(scope="module")
def template_scripts() -> set[str]:
    """The scripts nbconvert's own template puts into every page (exported from an empty notebook)."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nbformat.v4.new_notebook())
    return set(scan(body).scripts)


def test_chain_reports_carry_no_live_payload(payload_run: Path, template_scripts: set[str]) -> None:
    pages = sorted(payload_run.rglob("*.html"))
    assert len(pages) >= 6, pages  # five phase reports, the index and the model card
    for page in pages:
        found = scan(page.read_text(encoding="utf-8"))
        extra = [s[:120] for s in found.scripts if s not in template_scripts]
        assert not extra, f"{page.name}: scripts not from the template: {extra}"
        assert not found.handlers, f"{page.name}: event-handler attributes {found.handlers}"
        assert not found.js_urls, f"{page.name}: javascript: URLs {found.js_urls}"


def test_chain_payloads_read_as_text(payload_run: Path) -> None:
    text = {p.name: "".join(scan(p.read_text(encoding="utf-8")).text) for p in payload_run.rglob("*.html")}
    assert USE_CASE in text["01_use_cases.html"]
    assert KPI in text["01_use_cases.html"]
    for needle in VISIBLE:
        assert needle in text["01_use_cases.html"], needle
    assert ORG in text["index.html"] and ORG in text["00_readiness.html"]
    assert GROUP in text["03_explainability.html"]
    assert COLUMN in text["02_training.html"] and COLUMN in text["03_explainability.html"]
    assert OWNER in text["model_card.html"] and ORG in text["model_card.html"]
    assert OWNER in text["03_explainability.html"]  # the card preview


def test_chain_model_card_markdown_has_no_html_entities(payload_run: Path) -> None:
    from kit.escape import md

    card_md = next(payload_run.rglob("model_card.md")).read_text(encoding="utf-8")
    assert "&#x27;" not in card_md and "&lt;" not in card_md and "&amp;" not in card_md
    assert f"- **owner**: {md(OWNER)}" in card_md.splitlines()


# ---- the helpers ------------------------------------------------------------------------------------
import io  # noqa: E402
import string  # noqa: E402

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from nbconvert.filters.markdown import markdown2html_mistune  # noqa: E402

from kit import escape  # noqa: E402

matplotlib.use("Agg")
MATH = "cost $\\oops{$ <b>"  # mathtext that cannot parse: drawing it raises unless escaped
MD_CONTEXTS = {"paragraph": "x {}", "list item": "- **key:** {}", "heading": "### Pilot: {}",
               "table cell": "| a | b |\n|---|---|\n| {} | y |"}


def rendered(markdown: str) -> Scan:
    """Markdown rendered to HTML the way nbconvert renders a report, then scanned."""
    return scan(markdown2html_mistune(markdown))


def _squash(text: str) -> str:
    """Whitespace collapsed (HTML rendering does the same)."""
    return " ".join(text.split())


@pytest.mark.parametrize("context", MD_CONTEXTS)
@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=string.ascii_letters[:5] + string.digits[:3] + " \n" + string.punctuation, max_size=40))
def test_markdown_escape_renders_as_the_same_plain_text(context: str, text: str) -> None:
    template = MD_CONTEXTS[context]
    plain = rendered(template.format("w"))
    page = rendered(template.format(escape.md(text)))
    assert page.tags == plain.tags  # no link, image, emphasis, code, HTML or new block from the text
    assert _squash("".join(page.text)) == _squash("".join(plain.text)).replace("w", _squash(text), 1) or not _squash(text)


def test_markdown_escape_neutralises_links_images_and_html() -> None:
    for payload in (USE_CASE, KPI, ORG, OWNER, "a\n# heading\n<script>x</script>", "&lt;b&gt; &amp;"):
        page = rendered(f"- **name:** {escape.md(payload)}")
        assert not page.scripts and not page.handlers and not page.js_urls
        assert rendered(escape.md(payload)).tags == {"p"}
        assert _squash(payload) in _squash("".join(page.text))
    assert "&" not in escape.md("a & b").replace(r"\&", "")  # never an HTML entity in Markdown


def test_markdown_code_span_shows_text_verbatim() -> None:
    for payload in ("a `b` c", "`x", "<script>alert(1)</script> & [x](javascript:y)"):
        page = rendered(f"path {escape.md_code(payload)}")
        assert page.tags == {"p", "code"}
        assert payload.strip() in "".join(page.text)


def test_label_keeps_dollars_literal_and_draws() -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_title(escape.label(MATH))
    fig.savefig(io.BytesIO())
    assert Text(text=ax.get_title())._preprocess_math(ax.get_title()) == (MATH, False)
    plt.close(fig)


def test_styler_escapes_cells_headers_index_and_names() -> None:
    frame = pd.DataFrame({"<b>col</b>": ["<script>alert(1)</script>"], "n": [1.23456]},
                         index=pd.Index(["<i>row</i>"], name="<u>name</u>"))
    page = scan(escape.styler(frame, {"n": "{:.2f}"}, na_rep="-").to_html())
    assert not ({"script", "b", "i", "u"} & page.tags)
    assert {"<b>col</b>", "<script>alert(1)</script>", "<i>row</i>", "<u>name</u>", "1.23"} <= {t.strip() for t in page.text}


def _safe_markdown(md_obj, *payloads: str) -> str:
    """The Markdown of a display object renders with no live element, and each payload reads as text."""
    text = md_obj.data
    page = rendered(text)
    assert not page.scripts and not page.handlers and not page.js_urls, text
    assert not ({"a", "img", "script"} & page.tags), text
    shown = _squash("".join(page.text))
    for payload in payloads:
        assert _squash(payload) in shown, (payload, shown)
    assert "&lt;" not in text and "&amp;" not in text and "&#x27;" not in text
    return text


def _draws(fig) -> None:
    """The figure renders (mathtext in a label would raise)."""
    fig.savefig(io.BytesIO(), format="png")
