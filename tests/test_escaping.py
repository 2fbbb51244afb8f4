"""User strings never become live HTML, links, scripts or math: escaping helpers, display modules and the whole chain."""
from __future__ import annotations

import io
import os
import string
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.text import Text
from nbconvert.filters.markdown import markdown2html_mistune

from kit import escape

matplotlib.use("Agg")

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
        self.links: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Record every element, script tags, on* attributes and javascript: URLs."""
        self.tags.add(tag)
        href = dict(attrs).get("href")
        if tag in {"a", "img"} and not (href or "").startswith("#"):  # nbconvert's heading anchors are "#..."
            self.links.append(f"{tag} {href or dict(attrs).get('src')}")
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
    card_md = next(payload_run.rglob("model_card.md")).read_text(encoding="utf-8")
    assert "&#x27;" not in card_md and "&lt;" not in card_md and "&amp;" not in card_md
    assert f"- **owner**: {escape.md(OWNER)}" in card_md.splitlines()


# ---- the helpers ------------------------------------------------------------------------------------
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
    with pd.option_context("styler.html.mathjax", True):  # as in a fresh kernel, whatever earlier tests set
        assert 'class="tex2jax_ignore"' in escape.styler(frame).to_html()  # the report's MathJax leaves `$` in cells alone
    assert not ({"script", "b", "i", "u"} & page.tags)
    assert {"<b>col</b>", "<script>alert(1)</script>", "<i>row</i>", "<u>name</u>", "1.23"} <= {t.strip() for t in page.text}


def _safe_markdown(md_obj, *payloads: str) -> str:
    """The Markdown of a display object renders with no live element, and each payload reads as text."""
    text = md_obj.data
    page = rendered(text)
    assert not page.scripts and not page.handlers and not page.js_urls, text
    assert not page.links and "script" not in page.tags, text
    shown = _squash("".join(page.text))
    for payload in payloads:
        assert _squash(payload) in shown, (payload, shown)
    assert "&lt;" not in text and "&amp;" not in text and "&#x27;" not in text
    return text


def _draws(fig) -> None:
    """The figure renders (mathtext in a label would raise)."""
    fig.savefig(io.BytesIO(), format="png")


# ---- per display module --------------------------------------------------------------------------------
def _use_case_run(tmp_path: Path, name: str, kpi: str):
    """A real phase-1 ranking and pilot on the demo portfolio with one use case renamed."""
    from kit.notebook import start
    from kit.use_cases import phase
    from kit.use_cases.portfolio import load_portfolio, resolve_weights

    rows = pd.read_csv(PORTFOLIO, dtype=str, keep_default_na=False)
    rows["dataset_path"] = rows["dataset_path"].map(lambda p: str((PORTFOLIO.parent / p).resolve()) if p else "")
    rows.loc[0, ["name", "kpi_name"]] = [name, kpi]
    cfg = {"organization": {"name": ORG}, "dataset": {"path": str(TELCO), "target": "Churn"},
           "use_cases": {"portfolio": rows.to_dict(orient="records"), "pilot": name, "pilot_reason": OWNER}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    ctx = start(tmp_path / "run.yaml", tmp_path / "run", interactive=False)
    readiness = phase.readiness_inputs(ctx)
    portfolio = load_portfolio(ctx.config)
    weights = resolve_weights({})
    ranking = phase.rank_portfolio(portfolio, weights, readiness, ctx.config)
    stability = phase.stability_for(portfolio, ranking, weights, ctx.config)
    pilot = phase.pick_pilot(portfolio, ranking, readiness, ctx.config)
    return ranking, stability, pilot, phase.build_artifact(ranking, stability, weights, readiness, pilot, portfolio, ctx.config)


def test_use_case_views_escape_names_and_kpis(tmp_path: Path) -> None:
    from kit.use_cases import display as show

    name = USE_CASE.replace("$a$", MATH)
    ranking, stability, pilot, artifact = _use_case_run(tmp_path, name, KPI)
    page = scan(show.ranked_table(ranking, pilot.name).to_html())
    assert not page.scripts and not page.handlers and "script" not in page.tags
    assert name in [t.strip() for t in page.text]
    assert "font-weight: bold" in show.ranked_table(ranking, pilot.name).to_html()  # the pilot row still found
    for fig in (show.bubble_chart(ranking, pilot.name), show.roi_chart(ranking, pilot.name), show.stability_chart(stability)):
        _draws(fig)
    _safe_markdown(show.pilot_card(pilot, stability), name, KPI)
    _safe_markdown(show.headline_note(artifact), name)


def test_pilot_card_dataset_path_is_a_verbatim_code_span(tmp_path: Path) -> None:
    from kit.use_cases import display as show

    _, _, pilot, _ = _use_case_run(tmp_path, "Churn & co", "KPI")
    pilot.record["dataset"] = {"path": "data/a&b_<x>.csv", "target": "Churn"}
    page = rendered(show.pilot_card(pilot).data)
    assert "data/a&b_<x>.csv" in page.text


def test_readiness_markdown_escapes_organization_and_columns() -> None:
    from kit.profile import profile_frame
    from kit.readiness import display as show
    from kit.readiness.assess import assess
    from kit.readiness.config import ReadinessSection

    frame = pd.read_csv(TELCO, nrows=400).rename(columns={"tenure": COLUMN, "TotalCharges": "Total [x](javascript:1) <i>"})
    frame.loc[:50, COLUMN] = np.nan
    frame.loc[:80, "Total [x](javascript:1) <i>"] = np.nan
    profile = profile_frame(frame, id_columns=["customerID"])
    result = assess(ReadinessSection(answers={"data_access": 1}), profile=profile, organization=ORG)
    _safe_markdown(show.recommendations_markdown(result), ORG)
    _safe_markdown(show.profile_summary(profile), COLUMN, "Total [x](javascript:1) <i>")


def test_training_views_escape_notes_gates_names_and_labels() -> None:
    from kit.training import display as show

    _safe_markdown(show.notes_markdown("Data notes", [f"column '{COLUMN}' dropped", USE_CASE]), COLUMN, USE_CASE)
    _safe_markdown(show.outcome_markdown({"model_name": ORG, "status": "candidate", "version": 3, "algorithm": "xgboost",
                                          "failed_gates": [KPI]}), ORG, KPI)
    gates = pd.DataFrame({"gate": ["baseline <b>x</b>"], "passed": [False], "reason": [f"feature {COLUMN} <script>alert(1)</script>"]}).set_index("gate")
    page = scan(show.gates_view(gates).to_html())
    assert not ({"script", "b"} & page.tags) and "baseline <b>x</b>" in [t.strip() for t in page.text]
    board = pd.DataFrame({"candidate": [USE_CASE], "kind": ["model"], "roc_auc": [0.8], "pr_auc": [0.6], "f1": [0.5],
                          "log_loss": [0.4], "brier": [0.1]})
    assert "script" not in scan(show.leaderboard_view(board).to_html()).tags
    leak = pd.DataFrame({"feature": [MATH, COLUMN], "single_feature_auc": [0.97, 0.6], "flagged": [True, False]})
    _draws(show.leakage_figure(leak, cutoff=0.95))
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    fig = show.calibration_and_confusion_figure(y, np.clip(y * 0.6 + rng.random(300) * 0.4, 0, 1), 0.5, (MATH, "Yes $1"))
    _draws(fig)
    assert MATH + " (0)" in [t.get_text().replace("\\$", "$") for t in fig.axes[1].get_xticklabels()]
    _draws(show.curves_figure(y, {MATH: rng.random(300)}))


def test_monitoring_views_escape_reasons_and_headlines() -> None:
    from kit.monitoring import display as show

    outcome = {"triggered": True, "decision": "keep <b>", "reason": f"challenger {MATH} [x](javascript:1)", "comparison": None}
    _safe_markdown(show.decision_note(outcome, {"registry": ORG}), "[x](javascript:1)", ORG)
    _safe_markdown(show.headline({"headline": {KPI: USE_CASE}, "headline_status": "ok"}), KPI, USE_CASE)
    _draws(show.comparison_figure(outcome))


def test_model_card_escapes_per_format(tmp_path: Path) -> None:
    from kit.explain import card as card_mod
    from kit.explain import display as show

    card = {"model_details": {"name": ORG, "version": 1, "owner": "credit officer's <team> & co"},
            "intended_use": {"use": KPI, "out_of_scope": [USE_CASE]},
            "metrics": [{"metric": "<b>auc</b> | x", "value": 0.8}]}
    paths = card_mod.write_card(card, tmp_path)
    md_text = Path(paths["markdown"]).read_text(encoding="utf-8")
    assert "credit officer's" in md_text and "&#x27;" not in md_text and "&amp;" not in md_text and "&lt;" not in md_text
    page = rendered(md_text)
    assert not page.links and not ({"script", "b"} & page.tags) and not page.js_urls
    shown = _squash("".join(page.text))
    for payload in (ORG, KPI, USE_CASE, "credit officer's <team> & co", "<b>auc</b> | x"):
        assert _squash(payload) in shown, payload
    html_page = scan(Path(paths["html"]).read_text(encoding="utf-8"))
    assert not ({"a", "img", "script"} & html_page.tags) and not html_page.handlers
    html_text = "".join(html_page.text)
    assert all(p in html_text for p in (ORG, KPI, USE_CASE, "credit officer's <team> & co", "<b>auc</b> | x"))
    _safe_markdown(show.card_preview(card), ORG, KPI)


def test_fairness_chart_draws_any_group_label(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from kit.explain import display as show
    from kit.explain.config import FairnessSettings
    from kit.explain.fairness import assess_column

    frame = pd.read_csv(TELCO)
    y = (frame["Churn"] == "Yes").to_numpy(dtype=int)
    x = frame[["tenure", "MonthlyCharges"]].to_numpy(dtype=float)
    score = LogisticRegression().fit(x, y).predict_proba(x)[:, 1]
    groups = frame["gender"].replace({"Female": MATH})
    column = assess_column("gender $g$", groups, y, (score >= 0.5).astype(int), score, FairnessSettings(bootstrap=20), seed=0)
    fair = {"columns": [column], "gate": column["status"]}

    class Inputs:
        out_dir = tmp_path

    show.fairness_chart(fair, Inputs())
    assert (tmp_path / "figures" / "fairness.png").stat().st_size > 0
    assert MATH in show.group_table(fair).index.get_level_values("group")


def test_weight_explorer_message_is_html_escaped(tmp_path: Path) -> None:
    from kit.use_cases.widgets import WeightExplorer

    from kit.notebook import start
    from kit.use_cases import phase
    from kit.use_cases.portfolio import load_portfolio, resolve_weights

    name = "Churn <img src=x onerror=alert(9)> \\ *x*"
    _use_case_run(tmp_path, name, KPI)  # writes run.yaml with the renamed use case
    ctx = start(tmp_path / "run.yaml", tmp_path / "run2", interactive=False)
    explorer = WeightExplorer(load_portfolio(ctx.config), phase.readiness_inputs(ctx), ctx.config, resolve_weights({}))
    page = scan(explorer.message.value)
    assert "img" not in page.tags and not page.handlers
    assert name in "".join(page.text)  # HTML escaping only: no Markdown backslashes in an HTML widget


def test_notebook_start_keeps_mathjax_out_of_tables(tmp_path: Path) -> None:
    from kit.notebook import start

    frame = pd.DataFrame({"use case": ["Churn $a$ <b>x</b>"]})
    with pd.option_context("display.html.use_mathjax", True, "styler.html.mathjax", True):
        (tmp_path / "run.yaml").write_text(yaml.safe_dump({"organization": {"name": ORG}, "dataset": {"path": str(TELCO), "target": "Churn"}}))
        start(tmp_path / "run.yaml", tmp_path / "run")
        assert "tex2jax_ignore" in frame._repr_html_() and "tex2jax_ignore" in frame.style.to_html()
        assert "Churn $a$ <b>x</b>" in "".join(scan(frame._repr_html_()).text)
