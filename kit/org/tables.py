"""Tidy tables over every run of the roll-up (pure): runs, pillars, maturity, blockers, portfolio, models, trend."""
from __future__ import annotations

import re
from typing import Any

import pandas as pd

from kit.org.summary import PILLARS

RUN_COLUMNS = ["id", "unit", "run", "as_of", "started", "organization", "status", "error", "kit_version", "folder", "notes"]


def runs_table(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run, ordered by unit and date, with ``latest`` marking each unit's most recent run."""
    frame = pd.DataFrame([{c: s.get(c) for c in RUN_COLUMNS} for s in summaries], columns=RUN_COLUMNS)
    frame["notes"] = frame["notes"].map(lambda n: "; ".join(n or []))
    frame = frame.sort_values(["unit", "as_of", "started", "run"], na_position="first", kind="stable")
    frame["latest"] = ~frame.duplicated("unit", keep="last")
    return frame.reset_index(drop=True)


def _by_run(summaries: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """{run id: the summary's ``key`` part} for runs that have it."""
    return {s["id"]: s[key] for s in summaries if s.get(key)}


def pillars_table(summaries: list[dict[str, Any]], runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run with readiness figures: the four pillar scores, estimated and declared maturity."""
    parts = _by_run(summaries, "readiness")
    rows = [{"id": run, **r["pillars"], "maturity_level": r["maturity_level"], "maturity_name": r["maturity_name"],
             "declared_level": r["declared_level"], "maturity_status": r["maturity_status"],
             "blockers": len(r["blockers"])} for run, r in parts.items()]
    columns = ["id", *PILLARS, "maturity_level", "maturity_name", "declared_level", "maturity_status", "blockers"]
    frame = pd.DataFrame(rows, columns=columns)
    frame = runs[["id", "unit", "run", "as_of", "latest"]].merge(frame, on="id", how="inner")
    frame["gap"] = frame["declared_level"] - frame["maturity_level"]
    frame["latest_readiness"] = ~frame.duplicated("unit", keep="last")
    return frame


def latest_with(frame: pd.DataFrame) -> pd.DataFrame:
    """Each unit's most recent row of ``frame`` (rows ordered by unit and date)."""
    return frame[~frame.duplicated("unit", keep="last")].reset_index(drop=True)


def blockers_table(summaries: list[dict[str, Any]], runs: pd.DataFrame) -> pd.DataFrame:
    """Every blocker of each unit's most recent readiness assessment: unit, pillar, score and the fix."""
    latest = latest_with(pillars_table(summaries, runs))
    parts = _by_run(summaries, "readiness")
    rows = [{"unit": unit, "run": run, "as_of": as_of, **b}
            for key, unit, run, as_of in latest[["id", "unit", "run", "as_of"]].itertuples(index=False)
            for b in parts[key]["blockers"]]
    return pd.DataFrame(rows, columns=["unit", "run", "as_of", "pillar", "name", "score", "fix"])


def duplicate_keys(names: pd.Series, pattern: str) -> pd.Series:
    """A use-case name reduced to letters and digits, case-folded (equal keys = the same use case)."""
    return names.astype(str).str.casefold().str.replace(re.compile(pattern), " ", regex=True).str.strip()


def portfolio_table(summaries: list[dict[str, Any]], runs: pd.DataFrame, pattern: str) -> pd.DataFrame:
    """Every unit's ranked use cases (its latest run's), with value, feasibility, pilot and the other units naming it."""
    parts = _by_run(summaries, "portfolio")
    rows = [{"id": key, **u, "pilot": u["name"] == p["pilot"]} for key, p in parts.items() for u in p["use_cases"]]
    columns = ["id", "name", "business_unit", "value", "feasibility", "quadrant", "rank", "npv_3y", "pilot"]
    frame = pd.DataFrame(rows, columns=columns)
    has = runs[runs["id"].isin(frame["id"].unique())]
    chosen = latest_with(has)[["id", "unit", "run", "as_of"]]
    frame = chosen.merge(frame, on="id", how="inner")
    frame["key"] = duplicate_keys(frame["name"], pattern)
    units = frame.groupby("key")["unit"].agg(lambda u: sorted(set(u)))
    frame["also_in"] = [", ".join(x for x in units[k] if x != u) for k, u in zip(frame["key"], frame["unit"])]
    frame["priority"] = frame["value"] * frame["feasibility"]
    frame = frame.sort_values(["priority", "unit", "name"], ascending=[False, True, True], kind="stable")
    return frame.reset_index(drop=True)


def duplicates_table(portfolio: pd.DataFrame) -> pd.DataFrame:
    """Use cases named by more than one unit: the name, the units, and each unit's value and feasibility."""
    shared = portfolio[portfolio["also_in"] != ""]
    return (shared.groupby("key", sort=True)
            .agg(name=("name", "first"), units=("unit", lambda u: ", ".join(sorted(set(u)))),
                 n_units=("unit", "nunique"), value_max=("value", "max"), feasibility_max=("feasibility", "max"),
                 pilots=("pilot", "sum"))
            .reset_index())


def models_table(summaries: list[dict[str, Any]], runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run that trained a model: registry status, gates, fairness, ML Test Score and monitoring health."""
    rows = []
    for s in summaries:
        m, t, h = s.get("model"), s.get("ml_test"), s.get("monitoring")
        if not m:
            continue
        rows.append({
            "id": s["id"], "model": m["name"], "version": m["version"], "algorithm": m["algorithm"],
            "status": m["status"], "decided_by": m["decided_by"], "gates_passed": m["gates_passed"],
            "gates_total": m["gates_total"], "failed_gates": ", ".join(m["failed_gates"]),
            "accepted_gates": ", ".join(m["accepted_gates"]), "fairness": m["fairness"],
            "metric": m["metric"], "metric_value": m["metric_value"],
            "ml_test_final": t["final"] if t else None,
            "ml_test_counts": f"{t['automated']} automated, {t['manual']} manual, {t['missing']} missing" if t else None,
            "ml_test_sections": " · ".join(f"{k} {v['points']:g}/{v['max']:g}" for k, v in t["sections"].items()
                                           if v["points"] is not None and v["max"] is not None) if t else None,
            "health": h["health"] if h else None, "health_status": h["status"] if h else None,
            "alerts": h["alerts"] if h else None, "critical": h["critical"] if h else None,
            "watched": h["watched"] if h else None, "synthetic": h["synthetic"] if h else None,
            "scenario": h["scenario"] if h else None, "last_batch": h["last_batch"] if h else None,
        })
    frame = pd.DataFrame(rows, columns=["id", "model", "version", "algorithm", "status", "decided_by", "gates_passed",
                                        "gates_total", "failed_gates", "accepted_gates", "fairness", "metric",
                                        "metric_value", "ml_test_final", "ml_test_counts", "ml_test_sections", "health", "health_status",
                                        "alerts", "critical", "watched", "synthetic", "scenario", "last_batch"])
    return runs[["id", "unit", "run", "as_of", "latest"]].merge(frame, on="id", how="inner")


GAP_COLUMNS = ["recorded", "count", "why_not", "items"]


def gap_table(summaries: list[dict[str, Any]], runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: whether its readiness gap was recorded, how many items disagree, and the items."""
    rows = [{"id": s["id"], **{c: s["readiness_gap"][c] for c in GAP_COLUMNS}} for s in summaries]
    frame = pd.DataFrame(rows, columns=["id", *GAP_COLUMNS])
    frame["count"] = frame["count"].astype("Int64")
    return runs[["id", "unit", "run", "as_of", "latest", "status"]].merge(frame, on="id", how="inner")


def trend_table(runs: pd.DataFrame, pillars: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """For units with runs on two or more dates: one row per run with pillars, maturity, score and model health."""
    dated = runs.dropna(subset=["as_of"])
    several = dated.groupby("unit")["as_of"].nunique()
    keep = dated[dated["unit"].isin(several[several >= 2].index)][["id", "unit", "run", "as_of", "status", "error"]]
    frame = keep.merge(pillars[["id", *PILLARS, "maturity_level", "declared_level"]], on="id", how="left")
    frame = frame.merge(models[["id", "status", "ml_test_final", "health", "alerts"]].rename(
        columns={"status": "model_status"}), on="id", how="left")
    return frame.sort_values(["unit", "as_of", "run"], kind="stable").reset_index(drop=True)


def rollup_tables(summaries: list[dict[str, Any]], pattern: str) -> dict[str, pd.DataFrame]:
    """Every table of the roll-up, from the runs' summaries."""
    runs = runs_table(summaries)
    pillars = pillars_table(summaries, runs)
    models = models_table(summaries, runs)
    portfolio = portfolio_table(summaries, runs, pattern)
    return {
        "runs": runs, "pillars": pillars, "blockers": blockers_table(summaries, runs), "portfolio": portfolio,
        "duplicates": duplicates_table(portfolio), "models": models, "readiness_gap": gap_table(summaries, runs),
        "trend": trend_table(runs, pillars, models),
    }
