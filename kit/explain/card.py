"""The model card: its facts as a dict (JSON), rendered to Markdown and HTML, every string escaped for its format."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from kit import content, escape
from kit.artifacts import write_json

CARD_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;line-height:1.45;color:#222}"
    "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}"
    "h2{border-bottom:1px solid #ddd;margin-top:2rem}.muted{color:#666}"
)


def card_sections() -> list[dict[str, str]]:
    """The model card sections, in order, from kit/content/governance.yaml."""
    return content.load("governance")["model_card_sections"]


def monitoring_plan(monitoring_section: Any) -> dict[str, Any]:
    """Thresholds phase 4 will watch: the monitoring config's alert settings, else the governance fallback."""
    alerts = getattr(monitoring_section, "alerts", None)
    if alerts is not None and hasattr(alerts, "recall_floor"):
        plan = {
            "source": "monitoring config (phase 4 settings)",
            "recall_floor": alerts.recall_floor,
            "recall_floor_basis": getattr(alerts, "recall_floor_basis", None),
            "auc_relative_drop": getattr(alerts, "auc_relative_drop", None),
            "psi_moderate": getattr(alerts, "psi_moderate", None),
            "psi_significant": getattr(alerts, "psi_significant", None),
            "prediction_psi": getattr(alerts, "prediction_psi", None),
        }
        retraining = getattr(monitoring_section, "retraining", None)
        if retraining is not None:
            plan["retrain_on"] = list(getattr(retraining, "trigger_rules", []))
            plan["fairness_max_gap"] = getattr(retraining, "fairness_max_gap", None)
        return {k: v for k, v in plan.items() if v is not None}
    fallback = content.load("governance")["monitoring_fallback"]
    return {"source": "governance defaults (kit/content/governance.yaml)", **fallback}


def _fmt(value: Any) -> str:
    """A scalar as short text (floats to 4 significant digits)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "n/a"
    return str(value)


def _md_cell(value: Any) -> str:
    """A value escaped for Markdown, fit for a table cell (one line, pipes escaped, no HTML entities)."""
    return escape.md(_fmt(value))


def _md(value: Any) -> list[str]:
    """Markdown lines for a section value: a dict as bullets, a list of dicts as a table, a list as bullets."""
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines += [f"**{escape.md(key)}**", "", *_md(item), ""]
            else:
                lines.append(f"- **{escape.md(key)}**: {_md_cell(item if item != [] else None)}")
        return lines
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        keys = list(dict.fromkeys(k for row in value for k in row))
        lines = ["| " + " | ".join(escape.md(k) for k in keys) + " |", "|" + "---|" * len(keys)]
        return lines + ["| " + " | ".join(_md_cell(row.get(k)) for k in keys) + " |" for row in value]
    if isinstance(value, list):
        return [f"- {_md_cell(v)}" for v in value] or ["- none"]
    return [_md_cell(value)]


def card_markdown(card: dict[str, Any]) -> str:
    """The model card as Markdown; every string is Markdown-escaped (never HTML entities)."""
    details = card.get("model_details", {})
    lines = [f"# Model card: {escape.md(_fmt(details.get('name')))} v{escape.md(_fmt(details.get('version')))}", ""]
    for section in card_sections():
        lines += [f"## {section['title']}", "", f"*{section['says']}*", "", *_md(card.get(section["key"], {})), ""]  # kit content
    return "\n".join(lines)


def _html(value: Any) -> str:
    """HTML for a section value, with every string escaped."""
    esc = lambda v: escape.html(_fmt(v))  # noqa: E731
    if isinstance(value, dict):
        items = "".join(
            f"<li><b>{esc(k)}</b>: {_html(v) if isinstance(v, (dict, list)) and v else esc(v if v != [] else None)}</li>"
            for k, v in value.items()
        )
        return f"<ul>{items}</ul>"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        keys = list(dict.fromkeys(k for row in value for k in row))
        head = "".join(f"<th>{esc(k)}</th>" for k in keys)
        rows = "".join("<tr>" + "".join(f"<td>{esc(r.get(k))}</td>" for k in keys) + "</tr>" for r in value)
        return f"<table><tr>{head}</tr>{rows}</table>"
    if isinstance(value, list):
        return "<ul>" + "".join(f"<li>{esc(v)}</li>" for v in value) + "</ul>" if value else "<p>none</p>"
    return f"<p>{esc(value)}</p>"


def card_html(card: dict[str, Any]) -> str:
    """The model card as a standalone HTML page; every user string is escaped."""
    details = card.get("model_details", {})
    title = f"Model card: {escape.html(_fmt(details.get('name')))} v{escape.html(_fmt(details.get('version')))}"
    body = "".join(
        f"<h2>{escape.html(s['title'])}</h2><p class='muted'>{escape.html(s['says'])}</p>{_html(card.get(s['key'], {}))}"
        for s in card_sections()
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{CARD_STYLE}</style></head><body><h1>{title}</h1>{body}</body></html>"
    )


def missing_sections(card: dict[str, Any]) -> list[str]:
    """Sections the governance list requires that the card lacks or leaves empty."""
    return [s["key"] for s in card_sections() if not card.get(s["key"])]


def write_card(card: dict[str, Any], directory: str | Path) -> dict[str, str]:
    """Write model_card.md, .html and .json into ``directory``; return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": directory / "model_card.md", "html": directory / "model_card.html", "json": directory / "model_card.json"}
    paths["markdown"].write_text(card_markdown(card), encoding="utf-8")
    paths["html"].write_text(card_html(card), encoding="utf-8")
    write_json(paths["json"], card)
    return {k: str(v) for k, v in paths.items()}
