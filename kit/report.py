"""The one-page ``index.html`` of a run, and of a batch of runs."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from kit import escape
from kit.artifacts import read_artifact, to_jsonable
from kit.manifest import Manifest
from kit.phases import get_phase

_STYLE = (Path(__file__).parent / "templates" / "report.css").read_text(encoding="utf-8")
_VERDICT = {"ok": "on track", "warn": "needs attention", "fail": "action needed"}
_BADGE = {"ok": "ok", "failed": "fail", "fail": "fail", "warn": "warn", "skipped": "skip", "pending": "skip"}


def _e(value: Any) -> str:
    """HTML-escape any value for display."""
    return escape.html(value)


def _badge(status: str, text: str | None = None) -> str:
    """A coloured status label."""
    return f'<span class="badge {_BADGE.get(status, "skip")}">{_e(text or status)}</span>'


def headline(run_dir: Path, phase_name: str) -> tuple[dict[str, Any], str | None]:
    """A phase's headline items and status, read from its artifact (empty when absent)."""
    try:
        artifact = read_artifact(run_dir, get_phase(phase_name).artifact, required=False) or {}
    except Exception:  # an unreadable artifact must not break the summary page
        return {"artifact": "unreadable"}, "warn"
    return artifact.get("headline") or {}, artifact.get("headline_status")


def _phase_card(run_dir: Path, record: dict[str, Any]) -> str:
    """One phase's card: status, duration, headline and links."""
    phase = get_phase(record["name"])
    items, status = headline(run_dir, phase.name) if record["status"] == "ok" else ({}, None)
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in items.items())
    links = " · ".join(
        f'<a href="{_e(record[key])}">{label}</a>'
        for key, label in (("html", "report"), ("notebook", "notebook"))
        if record.get(key)
    )
    error = f'<p class="error">{_e(record["error"])}</p>' if record.get("error") else ""
    seconds = f'{record["seconds"]:.1f} s' if record.get("seconds") is not None else ""
    gate = _badge(status, _VERDICT.get(status)) if status else ""
    return (
        f'<section class="card"><h2>{phase.index} · {_e(phase.title)} {_badge(record["status"])} {gate}</h2>'
        f'<p class="meta">{seconds} {links}</p>{error}'
        f'{"<table>" + rows + "</table>" if rows else ""}</section>'
    )


def _read_score(run_dir: Path) -> dict[str, Any] | None:
    """The run's ml_test_score.json, None when absent or unreadable."""
    import json

    try:
        data = json.loads((run_dir / "ml_test_score.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "sections" in data else None


def _evidence_link(path: str | None) -> str:
    """A relative link to a test's evidence, or nothing."""
    return f'<a href="{_e(path)}">{_e(path)}</a>' if path else ""


def _score_tests(tests: list[dict[str, Any]]) -> str:
    """Every test of the ML Test Score: status, points, evidence link or why not."""
    badge = {"automated": "ok", "manual": "warn", "missing": "fail"}
    rows = "".join(
        f'<tr><td>{_e(t["id"])}</td><td>{_e(t["title"])}</td>'
        f'<td>{_badge(badge.get(t["status"], "skip"), t["status"])}</td><td>{_e(t["points"])}</td>'
        f'<td>{_e(t.get("outcome") or "")}</td>'
        f'<td>{_evidence_link(t.get("evidence"))}</td>'
        f'<td>{_e(t.get("why") or "")}</td></tr>'
        for t in tests)
    widths = "".join(f'<col style="width:{w}%">' for w in (13, 19, 11, 6, 8, 15, 28))
    return (f'<details><summary>All {len(tests)} tests: evidence or why not</summary><table class="tests">{widths}'
            f'<tr><th>Test</th><th>What</th><th>Status</th><th>Points</th><th>Outcome</th><th>Evidence</th>'
            f'<th>Why</th></tr>{rows}</table></details>')


def _score_gap(gaps: list[dict[str, Any]]) -> str:
    """Where the readiness self-assessment and the evidence disagree."""
    if not gaps:
        return '<p class="meta">The self-assessment and the evidence agree on every item compared.</p>'
    rows = "".join(f'<tr><td>{_e(g.get("pillar") or g.get("item"))}</td><td>{_e(g["declared"])}</td>'
                   f'<td>{_e(g["evidence"])}</td><td>{_e(g["note"])}</td></tr>' for g in gaps)
    return (f'<h3>Self-assessment against evidence</h3><table><tr><th>Item</th><th>Declared</th>'
            f'<th>Evidence</th><th>Note</th></tr>{rows}</table>')


def _score_rechecked(entries: Any) -> str:
    """When tests were scored again after the chain (a sign-off): which, after what, by whom, when."""
    lines = [f'Re-checked after the {_e(r.get("after"))} by {_e(r.get("by"))} at {_e(r.get("at"))}: '
             + ", ".join(f'{_e(t)} ({"changed" if t in (r.get("changed") or []) else "unchanged"})'
                         for t in r.get("tests") or [])
             for r in (entries if isinstance(entries, list) else []) if isinstance(r, dict)]
    return "".join(f'<p class="meta">{line}</p>' for line in lines)


def _score_card(run_dir: Path) -> str:
    """The ML Test Score card: final score, sections, readiness re-derived, gaps and every test."""
    score = _read_score(run_dir)
    if score is None:
        return ""
    band = score.get("band") or {}
    sections = "".join(f'<tr><th>{_e(s.get("name", k))}</th><td>{_e(s["points"])} / {_e(s["max"])}</td>'
                       f'<td>{_e(s.get("automated"))} automated, {_e(s.get("manual"))} manual</td></tr>'
                       for k, s in score["sections"].items())
    ready = score.get("readiness") or {}
    process, level = ready.get("process") or {}, ready.get("level") or {}
    facts = (f'<p>Process pillar {_e(process.get("declared"))} from the answers, {_e(process.get("with_evidence"))} '
             f'with this score (cap {_e(process.get("cap"))}); maturity level {_e(level.get("estimated"))} '
             f'estimated, {_e(level.get("with_evidence"))} with this score (declared {_e(level.get("declared"))}).</p>'
             if ready else "")
    final = f'{score["final"]:g}'
    return (f'<section class="card score"><h2>ML Test Score {_e(final)} '
            f'{_badge(band.get("status", "skip"), band.get("meaning"))}</h2>'
            f'<p class="meta">{_e(score.get("rubric"))}: one point per automated test, half per manual test; '
            f'the final score is the lowest section. <a href="ml_test_score.json">ml_test_score.json</a></p>'
            f'{_score_rechecked(score.get("rechecked"))}<table class="sections">{sections}</table>{facts}{_score_gap(score.get("readiness_gap") or [])}'
            f'{_score_tests(score.get("tests") or [])}</section>')

def engine_fact(record: dict[str, Any]) -> str:
    """The engine of a run in one line (kit.compute.engine records it in the manifest)."""
    from kit.compute.engine import engine_line

    return engine_line(record)


def render_index(run_dir: Path, manifest: dict[str, Any]) -> str:
    """Render a run's summary page as HTML text."""
    cards = "".join(_phase_card(run_dir, rec) for rec in manifest["phases"]) + _score_card(run_dir)
    facts = [
        ("Config", f'{manifest["config"]["path"]} (sha256 {manifest["config"]["sha256"][:12]}…)'),
        *[(f"Data {Path(d['path']).name}", f"sha256 {d['sha256'][:12]}…") for d in manifest["data_files"]],
        ("Seed", manifest["seeds"].get("seed")),
        ("Started", manifest["started"]),
        ("Finished", manifest.get("finished")),
        ("Duration", f'{manifest.get("seconds") or 0:.1f} s'),
        ("Kit", manifest["kit_version"]),
        ("Python", manifest["python"]),
        ("Platform", manifest["platform"]),
        ("Packages", ", ".join(f"{k} {v}" for k, v in manifest["packages"].items())),
        ("Engine", engine_fact(manifest.get("compute") or {})),
    ]
    fact_rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    failed = next((p for p in manifest["phases"] if p["status"] == "failed"), None)
    banner = (
        f'<p class="error">Phase <b>{_e(failed["name"])}</b> failed: {_e(failed["error"])}. '
        f'Open its report below to see the failing cell; later phases were skipped.</p>'
        if failed else ""
    )
    title = f'{manifest.get("organization") or ""} · {manifest["run_name"]}'
    done = sum(p["status"] == "ok" for p in manifest["phases"])
    summary = f'{done} of {len(manifest["phases"])} phases ok in {manifest.get("seconds") or 0:.1f} s'
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head><body>'
        f'<header><h1>{_e(title)} {_badge(manifest["status"])}</h1>'
        f'<p class="meta">ML scaling accelerator kit report · {_e(summary)} · '
        f'finished {_e(manifest.get("finished"))}</p></header>{banner}'
        f'<main>{cards}</main><section class="card facts"><h2>Reproducibility</h2>'
        f'<table>{fact_rows}</table><p class="meta"><a href="manifest.json">manifest.json</a></p></section>'
        f'</body></html>'
    )


def write_index(run_dir: Path, manifest: Manifest | dict[str, Any]) -> Path:
    """Write ``index.html`` for a run folder."""
    data = to_jsonable(manifest)
    path = Path(run_dir) / "index.html"
    path.write_text(render_index(Path(run_dir), data), encoding="utf-8")
    return path


def write_batch_index(out: Path, results: list[dict[str, Any]], rollup: dict[str, str] | None = None) -> Path:
    """Write ``index.html`` listing every run of a batch and its status (and a link to its organization roll-up)."""
    rows = "".join(
        f'<tr><td>{_e(r["name"])}</td><td>{_badge(r["status"])}</td>'
        f'<td>{_seconds(r.get("seconds"))}</td>'
        f'<td>{_link(out, r)}</td><td>{_e(r.get("error") or "")}</td></tr>'
        for r in results
    )
    passed = sum(r["status"] == "ok" for r in results)
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Batch report</title>'
        f'<style>{_STYLE}</style></head><body><header><h1>Batch of {len(results)} runs '
        f'{_badge("ok" if passed == len(results) else "failed")}</h1>'
        f'<p class="meta">{passed} passed, {len(results) - passed} failed</p>{_rollup_line(rollup)}</header>'
        f'<section class="card"><table><tr><th>Run</th><th>Status</th><th>Time</th><th>Report</th>'
        f'<th>Error</th></tr>{rows}</table></section></body></html>'
    )
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def _rollup_line(rollup: dict[str, str] | None) -> str:
    """The batch index's line about its organization roll-up: a link, or why it was not built."""
    if not rollup:
        return ""
    if rollup.get("href"):
        return f'<p><a href="{_e(rollup["href"])}">Organization roll-up</a>: every unit and run of this batch on one page</p>'
    return f'<p class="error">Organization roll-up not built: {_e(rollup.get("error"))}</p>'


def _seconds(value: float | None) -> str:
    """A duration for display, or nothing."""
    return f"{value:.1f} s" if value is not None else ""


def _link(out: Path, result: dict[str, Any]) -> str:
    """A relative link to a batch member's index page, when it has one."""
    where = result.get("report")
    if not where or not (Path(where) / "index.html").is_file():
        return ""
    rel = Path(where).resolve().relative_to(out.resolve()) if Path(where).resolve().is_relative_to(out.resolve()) else Path(where)
    return f'<a href="{_e(rel.as_posix())}/index.html">{_e(rel.as_posix())}</a>'
