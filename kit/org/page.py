"""The roll-up page: static, offline HTML (inline CSS and SVG) from the roll-up tables (pure)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from kit import __version__, escape

PAGE_MARKER = "<title>Organization roll-up"  # in every roll-up page the kit writes
_STYLE = (Path(__file__).resolve().parent.parent / "templates" / "report.css").read_text(encoding="utf-8")
_ORG_STYLE = (Path(__file__).resolve().parent.parent / "templates" / "org.css").read_text(encoding="utf-8")
_BADGE = {"ok": "ok", "failed": "fail", "fail": "fail", "warn": "warn", "champion": "ok", "candidate": "skip",
          "awaiting sign-off": "warn", "passed": "ok", "not assessed": "skip", "insufficient evidence": "warn",
          "running": "fail"}


def _e(value: Any) -> str:
    """HTML-escaped text; a missing value as an em dash."""
    return "—" if _missing(value) else escape.html(value)


def _missing(value: Any) -> bool:
    """Whether a table value is absent (None or NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _num(value: Any, digits: int = 1) -> str:
    """A number for display, or an em dash."""
    return "—" if _missing(value) else f"{float(value):.{digits}f}"


def _count(n: Any, noun: str) -> str:
    """'1 alert', '3 alerts'."""
    return f"{int(n)} {noun}{'' if int(n) == 1 else 's'}"


def _badge(status: Any, text: Any = None) -> str:
    """A coloured status label (escaped)."""
    if _missing(status):
        return "—"
    return f'<span class="badge {_BADGE.get(str(status), "skip")}">{_e(text if text is not None else status)}</span>'


def heat_color(score: float | None, stops: list[list[Any]]) -> str:
    """Background colour of a 1-5 score: linear between the content's stops; grey when unscored."""
    if _missing(score):
        return "#e4e7eb"
    points = [(float(s), c) for s, c in stops]
    score = min(max(float(score), points[0][0]), points[-1][0])
    for (low, c1), (high, c2) in zip(points, points[1:]):
        if score <= high:
            t = 0.0 if high == low else (score - low) / (high - low)
            rgb = [round(int(c1[i:i + 2], 16) * (1 - t) + int(c2[i:i + 2], 16) * t) for i in (1, 3, 5)]
            return "#" + "".join(f"{v:02x}" for v in rgb)
    return points[-1][1]


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """An HTML table from already-escaped cells."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _section(title: str, why: str, body: str, anchor: str) -> str:
    """One card of the page: a title, one line on why it matters, and its content."""
    return f'<section class="card" id="{anchor}"><h2>{title}</h2><p class="meta">{why}</p>{body}</section>'


def _link(href: str | None, text: Any) -> str:
    """A relative link to a run's page, or the text alone."""
    return f'<a href="{escape.html(href)}">{_e(text)}</a>' if href else _e(text)


def heatmap(pillars: pd.DataFrame, names: dict[str, str], stops: list[list[Any]], hrefs: dict[str, str]) -> str:
    """Readiness pillars of each unit's latest assessment as a coloured table (the score printed in each cell)."""
    latest = pillars[pillars["latest_readiness"]]
    if latest.empty:
        return '<p class="meta">No run has a readiness artifact.</p>'
    head = ["Unit", "As of", *[_e(n) for n in names.values()], "Blockers"]
    rows = [[_link(hrefs.get(r["id"]), r["unit"]), _date(r["as_of"]),
             *[f'<span class="heat" style="background:{heat_color(r[p], stops)}">{_num(r[p])}</span>' for p in names],
             _badge("fail", _count(r["blockers"], "blocker")) if r["blockers"] else _badge("ok", "none")]
            for r in latest.to_dict("records")]
    legend = "".join(f'<span class="heat" style="background:{heat_color(s, stops)}">{s:g}</span>' for s in (1, 2, 3, 4, 5))
    return _table(head, rows, "heatmap") + f'<p class="meta">Scale: {legend} (below 2 blocks scaling)</p>'


def maturity(pillars: pd.DataFrame) -> str:
    """Estimated vs declared maturity per unit, with the gap."""
    latest = pillars[pillars["latest_readiness"]]
    if latest.empty:
        return '<p class="meta">No run has a readiness artifact.</p>'
    rows = []
    for r in latest.to_dict("records"):
        gap = r["gap"]
        verdict = ("—" if _missing(gap) else "matches the evidence" if gap == 0
                   else f"declared {_count(abs(gap), 'level')} {'above' if gap > 0 else 'below'} the evidence")
        bar = "".join(f'<i class="lvl{" est" if lvl <= (r["maturity_level"] or 0) else ""}'
                      f'{" dec" if lvl == r["declared_level"] else ""}"></i>' for lvl in range(1, 6))
        rows.append([_e(r["unit"]), f'{_num(r["maturity_level"], 0)} ({_e(r["maturity_name"])})',
                     _num(r["declared_level"], 0), f'<span class="levels">{bar}</span>',
                     _badge("ok" if gap == 0 else "warn", verdict) if not _missing(gap) else "—"])
    key = '<p class="meta">Bars: filled = estimated from evidence, outlined = declared.</p>'
    return _table(["Unit", "Estimated", "Declared", "1 … 5", "Self-assessment"], rows) + key


def blockers(table: pd.DataFrame) -> str:
    """Blockers across the organization, weakest first, each with what to fix."""
    if table.empty:
        return '<p>No unit has a readiness blocker in its latest assessment.</p>'
    rows = [[_e(r["unit"]), _e(r["name"]), _num(r["score"]), _e(r["fix"])]
            for r in table.sort_values(["score", "unit"]).to_dict("records")]
    return _table(["Unit", "Pillar", "Score", "What to fix"], rows)


def _unit_colors(units: list[str], palette: list[str]) -> dict[str, str]:
    """One colour per unit, cycling the palette."""
    return {u: palette[i % len(palette)] for i, u in enumerate(sorted(units))}


def portfolio_svg(portfolio: pd.DataFrame, colors: dict[str, str]) -> str:
    """Value × feasibility of every unit's use cases (numbered as in the table; a ring marks a pilot)."""
    w, h, m = 640, 420, 48
    x = lambda v: m + (float(v) - 1) / 4 * (w - 2 * m)  # noqa: E731
    y = lambda v: h - m - (float(v) - 1) / 4 * (h - 2 * m)  # noqa: E731
    grid = "".join(f'<line x1="{x(v)}" y1="{y(1)}" x2="{x(v)}" y2="{y(5)}" class="grid"/>'
                   f'<line x1="{x(1)}" y1="{y(v)}" x2="{x(5)}" y2="{y(v)}" class="grid"/>'
                   f'<text x="{x(v)}" y="{y(1) + 16}" class="tick">{v}</text>'
                   f'<text x="{x(1) - 10}" y="{y(v) + 4}" class="tick" text-anchor="end">{v}</text>' for v in (1, 2, 3, 4, 5))
    mid = (f'<line x1="{x(3)}" y1="{y(1)}" x2="{x(3)}" y2="{y(5)}" class="mid"/>'
           f'<line x1="{x(1)}" y1="{y(3)}" x2="{x(5)}" y2="{y(3)}" class="mid"/>'
           f'<text x="{x(5) - 4}" y="{y(5) + 14}" class="quad" text-anchor="end">quick wins</text>'
           f'<text x="{x(1) + 4}" y="{y(5) + 14}" class="quad">strategic bets</text>')
    dots = []
    for i, r in enumerate(portfolio.to_dict("records")):
        if _missing(r["value"]) or _missing(r["feasibility"]):
            continue
        ring = ' stroke="#111" stroke-width="2.5"' if r["pilot"] else ' stroke="#fff" stroke-width="1"'
        dots.append(f'<g><title>{_e(i + 1)}. {_e(r["name"])} ({_e(r["unit"])})</title>'
                    f'<circle cx="{x(r["feasibility"]):.1f}" cy="{y(r["value"]):.1f}" r="10" '
                    f'fill="{colors.get(r["unit"], "#888")}" fill-opacity="0.85"{ring}/>'
                    f'<text x="{x(r["feasibility"]):.1f}" y="{y(r["value"]) + 4:.1f}" class="num">{i + 1}</text></g>')
    axes = (f'<text x="{w / 2}" y="{h - 8}" class="axis">feasibility →</text>'
            f'<text x="14" y="{h / 2}" class="axis" transform="rotate(-90 14 {h / 2})">value →</text>')
    legend = "".join(f'<span class="key"><i style="background:{c}"></i>{_e(u)}</span>' for u, c in colors.items())
    return (f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="use-case portfolio" '
            f'class="chart">{grid}{mid}{axes}{"".join(dots)}</svg>'
            f'<p class="legend">{legend}<span class="key"><i class="pilot"></i>pilot</span></p>')


def portfolio(table: pd.DataFrame, duplicates: pd.DataFrame, palette: list[str]) -> str:
    """The combined portfolio: chart, numbered table (by value × feasibility) and the use cases several units name."""
    if table.empty:
        return '<p class="meta">No run has a use-case artifact.</p>'
    colors = _unit_colors(table["unit"].unique().tolist(), palette)
    rows = [[str(i + 1), _e(r["name"]) + (" " + _badge("ok", "pilot") if r["pilot"] else ""), _e(r["unit"]),
             _num(r["value"]), _num(r["feasibility"]), _e(r["quadrant"]),
             f'<span class="dup">also in {_e(r["also_in"])}</span>' if r["also_in"] else ""]
            for i, r in enumerate(table.to_dict("records"))]
    dup = ""
    if not duplicates.empty:
        items = "".join(f'<li><b>{_e(r["name"])}</b>: {_e(r["units"])}'
                        f'{" (a pilot in " + str(int(r["pilots"])) + ")" if r["pilots"] else ""}</li>'
                        for r in duplicates.to_dict("records"))
        dup = (f'<h3>Named by several units ({len(duplicates)}): build once, share</h3><ul>{items}</ul>')
    return (portfolio_svg(table, colors) + dup
            + _table(["#", "Use case", "Unit", "Value", "Feasibility", "Quadrant", "Duplicate"], rows, "compact"))


def models(table: pd.DataFrame, hrefs: dict[str, str]) -> str:
    """Every model: registry status, gates, fairness, ML Test Score and its latest monitoring health."""
    if table.empty:
        return '<p class="meta">No run trained a model.</p>'
    rows = []
    for r in table.to_dict("records"):
        gates = f'{int(r["gates_passed"])}/{int(r["gates_total"])} passed'
        if r["failed_gates"]:
            gates += f'; failed: {_e(r["failed_gates"])}'
        if r["accepted_gates"]:
            gates += f'; accepted: {_e(r["accepted_gates"])}'
        health = "—" if _missing(r["health"]) else (
            _badge(r["health_status"], r["health"]) + f'<br><span class="meta">{_count(r["alerts"], "alert")} '
            f'({int(r["critical"])} critical), watching the {_e(r["watched"])}'
            + (f'; synthetic scenario {_e(r["scenario"])}' if r["synthetic"] else "") + "</span>")
        score = "—" if _missing(r["ml_test_final"]) else (
            f'<b>{_score_link(hrefs.get(r["id"]), r["ml_test_final"])}</b><br><span class="meta">'
            f'{_e(r["ml_test_sections"])}<br>{_e(r["ml_test_counts"])}</span>')
        rows.append([_link(hrefs.get(r["id"]), r["unit"]) + f'<br><span class="meta date">{_e(r["as_of"])}</span>',
                     f'{_e(r["model"])} v{_e(r["version"])}<br><span class="meta">{_e(r["algorithm"])}, '
                     f'{_e(r["metric"])} {_num(r["metric_value"], 3)}</span>',
                     _badge(r["status"]) + (f'<br><span class="meta">{_e(r["decided_by"])}</span>'
                                            if r["decided_by"] != "phase 3" else ""),
                     gates, _badge(r["fairness"]), score, health])
    return _table(["Unit", "Model", "Registry", "Gates", "Fairness", "ML Test Score", "Latest monitoring"], rows)


def _breakable(value: Any) -> str:
    """Escaped dotted text that may wrap after each dot (readiness.capabilities.model_registry)."""
    return _e(value).replace(".", ".<wbr>")


def _gap_rows(r: dict[str, Any], lead: list[str]) -> list[str]:
    """The table rows of one run's readiness gap: ``lead`` cells (spanning its rows), then one row per item."""
    if not r["recorded"]:
        return [f'<tr>{"".join(lead)}<td colspan="4" class="meta">{_e(r["why_not"])}</td></tr>']
    if not r["items"]:
        return [f'<tr>{"".join(lead)}<td colspan="4" class="meta">the self-assessment and the evidence agree on '
                f'every item compared</td></tr>']
    span = len(r["items"])
    lead = [c.replace("<td>", f'<td rowspan="{span}">', 1) for c in lead]
    items = [f'<td class="gap-item">{_breakable(g["item"])}{" pillar" if g["kind"] == "pillar" else ""}</td>'
             f'<td>{_e(g["declared"])}</td><td>{_e(g["evidence"])}</td><td class="meta">{_e(g["note"])}</td>'
             for g in r["items"]]
    return [f'<tr>{"".join(lead) if i == 0 else ""}{cells}</tr>' for i, cells in enumerate(items)]


def readiness_gaps(table: pd.DataFrame, hrefs: dict[str, str]) -> str:
    """Every run's disagreements between its readiness self-assessment and its own evidence, item by item."""
    if table.empty:
        return '<p class="meta">No run to compare.</p>'
    rows = []
    for r in table.to_dict("records"):
        count = (_badge("skip", "not recorded") if not r["recorded"] else
                 _badge("warn" if r["count"] else "ok", _count(r["count"], "disagreement")))
        lead = [f'<td>{_link(hrefs.get(r["id"]), r["unit"])}</td>', f"<td>{_date(r['as_of'])}</td>", f"<td>{count}</td>"]
        rows += _gap_rows(r, lead)
    head = "".join(f"<th>{h}</th>" for h in ("Unit", "As of", "Disagreements", "Item", "Declared", "Evidence", "Note"))
    return (f'<table class="compact gaps"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            '<p class="meta">Declared: the readiness answer in the run\'s config; evidence: the ML Test Score tests '
            "(or the level and pillar) this run shows.</p>")


def spread(ys: list[float], gap: float) -> list[float]:
    """Label positions near ``ys`` (in the same order) with at least ``gap`` between neighbours."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    placed: list[float] = [0.0] * len(ys)
    last = -math.inf
    for i in order:
        placed[i] = last = max(ys[i], last + gap)
    return placed


def _score_link(index_href: str | None, final: float) -> str:
    """The final ML Test Score, linked to the run's ml_test_score.json when the run's page is linked."""
    text = _num(final)
    if not index_href:
        return text
    return f'<a href="{escape.html(index_href.removesuffix("index.html") + "ml_test_score.json")}">{text}</a>'


def trend_svg(unit: pd.DataFrame, names: dict[str, str], palette: list[str]) -> str:
    """The four pillars of one unit over its run dates (1-5), each line labelled at its last point."""
    w, h, m, right = 560, 240, 40, 110
    dates = unit["as_of"].tolist()
    step = (w - m - right) / max(len(dates) - 1, 1)
    x = lambda i: m + i * step  # noqa: E731
    y = lambda v: h - m - (float(v) - 1) / 4 * (h - 2 * m)  # noqa: E731
    grid = "".join(f'<line x1="{m}" y1="{y(v)}" x2="{x(len(dates) - 1)}" y2="{y(v)}" class="grid"/>'
                   f'<text x="{m - 8}" y="{y(v) + 4}" class="tick" text-anchor="end">{v}</text>' for v in (1, 2, 3, 4, 5))
    ticks = "".join(f'<text x="{x(i)}" y="{h - m + 18}" class="tick">{_e(d)}</text>' for i, d in enumerate(dates))
    series = []
    for k, (pillar, name) in enumerate(names.items()):
        points = [(x(i), y(v)) for i, v in enumerate(unit[pillar]) if not _missing(v)]
        if points:
            series.append((palette[k % len(palette)], name, points))
    labels_y = spread([pts[-1][1] + 4 for _, _, pts in series], 13)
    lines = [f'<polyline points="{" ".join(f"{px:.1f},{py:.1f}" for px, py in pts)}" fill="none" stroke="{color}" '
             f'stroke-width="2.5"/>' + "".join(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{color}"/>'
                                                for px, py in pts)
             + f'<text x="{pts[-1][0] + 10:.1f}" y="{ly:.1f}" class="lab" fill="{color}">{_e(name)}</text>'
             for (color, name, pts), ly in zip(series, labels_y)]
    return (f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" class="chart" '
            f'aria-label="pillars over time">{grid}{ticks}{"".join(lines)}</svg>')


def _health_cell(row: pd.Series) -> str:
    """Model health of a trend row, or why the run has none."""
    if not _missing(row["health"]):
        return f'{_e(row["health"])} ({_count(row["alerts"], "alert")})'
    if not _missing(row["error"]):
        return f'<span title="{_e(row["error"])}">run failed at {_e(str(row["error"]).split(":")[0])}</span>'
    return "—"


def trends(table: pd.DataFrame, names: dict[str, str], palette: list[str]) -> str:
    """For each unit with runs on several dates: pillars over time, and a table with maturity, score and model health."""
    if table.empty:
        return '<p>No unit has runs from two or more dates yet: run a unit again later (readiness.as_of dates a run).</p>'
    parts = []
    for unit, rows in table.groupby("unit", sort=True):
        body = [[_date(r["as_of"]), _e(r["run"]), *[_num(r[p]) for p in names], _num(r["maturity_level"], 0),
                 _num(r["ml_test_final"]), _badge(r["model_status"]), _health_cell(r)]
                for r in rows.to_dict("records")]
        parts.append(f'<h3>{_e(unit)}</h3>{trend_svg(rows, names, palette)}'
                     + _table(["As of", "Run", *[_e(n) for n in names.values()], "Maturity", "ML Test Score",
                               "Model", "Model health"], body, "compact"))
    return "".join(parts)


def _date(value: Any) -> str:
    """A date that never wraps."""
    return f'<span class="date">{_e(value)}</span>'


def runs(table: pd.DataFrame, skipped: list[tuple[str, str]], hrefs: dict[str, str]) -> str:
    """Every run with its status and reason when it failed, plus every folder that was skipped and why."""
    rows = [[_link(hrefs.get(r["id"]), r["run"]), _e(r["unit"]), _date(r["as_of"]), _badge(r["status"]),
             _e(r["error"]) if not _missing(r["error"]) else "", _e(r["notes"]) if r["notes"] else ""]
            for r in table.to_dict("records")]
    rows += [[_e(folder), "—", "—", _badge("fail", "skipped"), _e(reason), ""] for folder, reason in skipped]
    return _table(["Run", "Unit", "As of", "Status", "Reason", "Notes"], rows, "compact")


def render(tables: dict[str, pd.DataFrame], skipped: list[tuple[str, str]], hrefs: dict[str, str],
           content: dict[str, Any]) -> str:
    """The whole roll-up page as HTML text."""
    names, palette = content["pillars"], content["unit_colors"]
    run_table = tables["runs"]
    orgs = sorted({o for o in run_table["organization"] if not _missing(o)}) or ["Organization"]
    failed = int((run_table["status"] != "ok").sum())
    alarm = ""
    if failed or skipped:
        lines = [f'<li>{_e(r["run"])} ({_e(r["unit"])}): {_e(r["error"] or r["status"])}</li>'
                 for r in run_table[run_table["status"] != "ok"].to_dict("records")]
        lines += [f"<li>{_e(folder)}: {_e(reason)}</li>" for folder, reason in skipped]
        alarm = f'<div class="error"><b>{failed} run(s) failed, {len(skipped)} folder(s) skipped</b><ul>{"".join(lines)}</ul></div>'
    dates = run_table["as_of"].dropna()
    span = f"{dates.min()} to {dates.max()}" if not dates.empty else "no dates"
    summary = (f'{run_table["unit"].nunique()} units · {len(run_table)} runs ({failed} failed) · {span} · '
               f'{len(tables["models"])} models, {int((tables["models"]["status"] == "champion").sum())} champion(s)')
    nav = " · ".join(f'<a href="#{a}">{t}</a>' for a, t in (
        ("readiness", "Readiness"), ("maturity", "Maturity"), ("gap", "Self-assessment"), ("blockers", "Blockers"),
        ("portfolio", "Portfolio"), ("models", "Models"), ("trend", "Trend"), ("runs", "Runs")))
    cards = [
        _section("Readiness pillars per unit", "Each unit's latest assessment, 1 (nascent) to 5 (advanced): "
                 "where the organization can scale ML now and where it must build first.",
                 heatmap(tables["pillars"], names, content["heat_stops"], hrefs), "readiness"),
        _section("Estimated vs declared maturity", "The level the evidence supports next to the level each unit "
                 "declared: most organizations overestimate by a level.", maturity(tables["pillars"]), "maturity"),
        _section("Self-assessment against evidence", "Per run, each readiness answer its own evidence contradicts: "
                 "a capability claimed but not shown, one shown but not claimed, or a level the evidence does not "
                 "reach. Plan from the evidence.", readiness_gaps(tables["readiness_gap"], hrefs), "gap"),
        _section(f'Blockers across the organization ({len(tables["blockers"])})', "A pillar below 2 stops scaling "
                 "in that unit until it is fixed.", blockers(tables["blockers"]), "blockers"),
        _section("Combined use-case portfolio", "Every unit's candidates on one value × feasibility chart; "
                 "a use case several units name is one to build once and share.",
                 portfolio(tables["portfolio"], tables["duplicates"], palette), "portfolio"),
        _section("Models", "Each run's model as its run left it: registry status after the promotion decision, "
                 "gates, fairness, ML Test Score (lowest section score) and monitoring.",
                 models(tables["models"], hrefs), "models"),
        _section("Trend", "Units with runs from several dates: is each one moving?",
                 trends(tables["trend"], names, palette), "trend"),
        _section("Runs", "Every folder read, with the reason for each one that failed or was skipped.",
                 runs(run_table, skipped, hrefs), "runs"),
    ]
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">{PAGE_MARKER}: {_e(", ".join(orgs))}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}{_ORG_STYLE}</style>'
            f'</head><body class="org"><header><h1>{_e(", ".join(orgs))}: organization roll-up</h1>'
            f'<p class="meta">{_e(summary)}</p><p class="meta">{nav} · <a href="org.json">org.json</a></p></header>'
            f'{alarm}<main>{"".join(cards)}</main><footer class="meta">Built by kit {_e(__version__)} from the runs\' '
            f'artifacts (manifest.json, artifacts/*.json, ml_test_score.json); org.json holds the same figures.'
            f'</footer></body></html>')

