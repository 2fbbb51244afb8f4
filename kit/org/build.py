"""Build the roll-up: read run folders, write ``org.html`` and ``org.json`` (the I/O around the pure parts)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from kit import __version__, content
from kit.artifacts import to_jsonable, write_json
from kit.errors import KitError
from kit.org import page
from kit.org.read import LoadedRun, load_runs
from kit.org.summary import qualify_units, summarize
from kit.org.tables import rollup_tables

PAGE, DATA = "org.html", "org.json"


def summarize_run(run: LoadedRun, health: dict[str, str]) -> dict[str, Any]:
    """One loaded run's summary, keyed by its folder, with the read notes first."""
    summary = summarize(run.manifest, run.artifacts, run.ml_test_score, run.folder.name, health)
    return {**summary, "id": str(run.folder), "folder": str(run.folder), "notes": run.notes + summary["notes"]}


def summarize_all(runs: list[LoadedRun], health: dict[str, str]) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Summaries of every run; a run whose files have an unexpected shape is skipped with the reason."""
    summaries, skipped = [], []
    for run in runs:
        try:
            summaries.append(summarize_run(run, health))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:  # a damaged or foreign artifact, not a bug here
            skipped.append((str(run.folder), f"artifacts of an unexpected shape ({exc.__class__.__name__}: {exc}); "
                                             "re-run it with this kit version"))
    return qualify_units(summaries), skipped


def _href(out: Path, folder: str) -> str | None:
    """Relative link from the roll-up folder to a run's index.html, when there is one."""
    index = Path(folder) / "index.html"
    return Path(os.path.relpath(index, out.resolve())).as_posix() if index.is_file() else None


def org_data(tables: dict[str, Any], skipped: list[tuple[str, str]]) -> dict[str, Any]:
    """The roll-up's figures as plain JSON: the same tables the page shows."""
    runs = tables["runs"]
    return {
        "format": 1, "kit_version": __version__,
        "organizations": sorted({o for o in runs["organization"].dropna()}),
        "units": sorted(runs["unit"].unique().tolist()),
        **{name: to_jsonable(frame) for name, frame in tables.items()},
        "skipped": [{"folder": f, "reason": r} for f, r in skipped],
    }


def _check_destination(out: Path) -> None:
    """Refuse to overwrite an org.html the kit did not write."""
    existing = out / PAGE
    if existing.is_file() and page.PAGE_MARKER not in existing.read_text(encoding="utf-8", errors="replace")[:4000]:
        raise KitError(f"{existing}: exists and was not written by the kit; pass --out a new folder")


def _write_text(path: Path, text: str) -> None:
    """Write text atomically: a reader never sees a half-written page."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_rollup(paths: list[str | Path], out: str | Path,
                 failed: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """Read every run under ``paths`` and write ``out/org.html`` and ``out/org.json``; return what was built.

    ``failed`` lists (name, reason) of runs that failed before they had a folder (a batch passes them).
    """
    out = Path(out).expanduser()
    rules = content.load("org")
    runs, skipped_folders = load_runs(paths)
    summaries, unreadable = summarize_all(runs, rules["health"])
    skipped = [(str(s.folder), s.reason) for s in skipped_folders] + unreadable
    skipped += [(name, f"failed before it wrote a report: {reason}") for name, reason in failed or []]
    if not summaries and not failed:
        reasons = "; ".join(f"{f}: {r}" for f, r in skipped) or "no folders given"
        raise KitError(f"no kit run to roll up ({reasons}); pass run folders (each with manifest.json) "
                       "or a batch folder that holds them")
    tables = rollup_tables(summaries, rules["duplicate_key"])
    out.mkdir(parents=True, exist_ok=True)
    _check_destination(out)
    hrefs = {key: _href(out, key) for key in tables["runs"]["id"]}
    write_json(out / DATA, org_data(tables, skipped))
    _write_text(out / PAGE, page.render(tables, skipped, {k: v for k, v in hrefs.items() if v}, rules))
    return {"page": out / PAGE, "data": out / DATA, "runs": len(summaries), "units": tables["runs"]["unit"].nunique(),
            "failed": int((tables["runs"]["status"] != "ok").sum()), "skipped": skipped}
