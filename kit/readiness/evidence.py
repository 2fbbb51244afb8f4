"""Findings from a dataset profile that bear on data readiness (thresholds in readiness.yaml)."""
from __future__ import annotations

from typing import Any

from kit.profile import DataProfile
from kit.readiness import content


def finding(check: str, status: str, item: str, text: str) -> dict[str, str]:
    """One finding: the check, ok/warn/info, the data-readiness checklist item and a sentence."""
    checklist = content.questionnaire()["data_checks"]["checklist"]
    return {"check": check, "status": status, "bears_on": checklist[item], "finding": text}


def volume_finding(profile: DataProfile, min_rows: int) -> dict[str, str]:
    """Is there enough history for a first model?"""
    ok = profile.rows >= min_rows
    text = (f"{profile.rows:,} rows and {profile.columns} columns"
            + ("" if ok else f": below the {min_rows:,} rows a first model usually needs"))
    return finding("volume", "ok" if ok else "warn", "volume", text)


def missing_finding(profile: DataProfile, max_share: float) -> dict[str, str]:
    """Columns whose missing share exceeds the limit, and disguised blanks in text columns."""
    high = {c: s for c, s in profile.missing_share.items() if s > max_share}
    parts = [f"{c} {s:.0%}" for c, s in sorted(high.items(), key=lambda kv: -kv[1])]
    blanks = [f"{c} ({n} blank strings)" for c, n in profile.blank_strings.items()]
    if not parts and not blanks:
        return finding("missing values", "ok", "pipelines",
                       f"{profile.missing_cell_share:.1%} of cells missing; no column above {max_share:.0%}")
    text = "; ".join(filter(None, [
        f"columns more than {max_share:.0%} missing: {', '.join(parts)}" if parts else "",
        f"missing values hidden as blank text: {', '.join(blanks)}" if blanks else "",
    ]))
    return finding("missing values", "warn", "pipelines", text)


def duplicate_finding(profile: DataProfile, max_share: float) -> dict[str, str]:
    """Rows that repeat an earlier row once declared id columns are ignored."""
    n, share = profile.duplicate_rows_ignoring_ids, profile.duplicate_share
    status = "warn" if share > max_share else "ok"
    return finding("duplicates", status, "pipelines",
                   f"{n:,} duplicate rows ({share:.2%}) ignoring id columns; limit {max_share:.0%}")


def column_finding(profile: DataProfile) -> dict[str, str]:
    """Constant columns and id-like columns nobody declared (undocumented data)."""
    undeclared = [c for c in profile.id_like_columns if c not in profile.declared_id_columns]
    if not profile.constant_columns and not undeclared:
        return finding("columns", "ok", "catalog", "no constant columns; every id-like column is declared")
    parts = []
    if profile.constant_columns:
        parts.append(f"constant columns (no information): {', '.join(profile.constant_columns)}")
    if undeclared:
        parts.append(f"id-like columns not declared in dataset.id_columns: {', '.join(undeclared)}")
    return finding("columns", "warn", "catalog", "; ".join(parts))


def type_finding(profile: DataProfile) -> dict[str, str]:
    """Numbers stored as text: a sign the pipeline does not enforce a schema."""
    if not profile.numeric_text_columns:
        return finding("types", "ok", "pipelines", "no numeric columns stored as text")
    return finding("types", "warn", "pipelines",
                   f"numbers stored as text (convert and enforce a schema): {', '.join(profile.numeric_text_columns)}")


def freshness_finding(profile: DataProfile, max_days: float) -> dict[str, str]:
    """How old the newest row is, when the dataset names a time column."""
    if profile.time_column is None:
        return finding("freshness", "info", "pipelines",
                       "no time column declared (dataset.time_column): freshness cannot be checked")
    if profile.time_error:
        return finding("freshness", "warn", "pipelines", profile.time_error)
    if profile.freshness_days is None:
        return finding("freshness", "warn", "pipelines",
                       f"time column {profile.time_column} has no parseable dates")
    status = "ok" if profile.freshness_days <= max_days else "warn"
    return finding("freshness", status, "pipelines",
                   f"{profile.time_min[:10]} to {profile.time_max[:10]}; newest row "
                   f"{profile.freshness_days:.0f} days old (limit {max_days} days)")


def data_findings(profile: DataProfile | None) -> list[dict[str, Any]]:
    """Every data-readiness finding of a profile (empty when no dataset was profiled)."""
    if profile is None:
        return []
    checks = content.questionnaire()["data_checks"]
    return [
        volume_finding(profile, checks["min_rows"]),
        missing_finding(profile, checks["max_missing_share"]),
        duplicate_finding(profile, checks["max_duplicate_share"]),
        column_finding(profile),
        type_finding(profile),
        freshness_finding(profile, checks["max_staleness_days"]),
    ]
