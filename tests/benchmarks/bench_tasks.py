"""Benchmark the whole chain per task: binary (demo), regression (bike_demand), multiclass (maintenance_failure_type).

Run: .venv/bin/python tests/benchmarks/bench_tasks.py [--tasks regression,multiclass] (not part of `make test`).
Each chain runs through the CLI, as a user would, into a temporary folder with its own MLflow store.
Prints a Markdown table (seconds per phase and in total) and whether each task meets the 60 s target.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = {
    "binary": ROOT / "data" / "configs" / "demo.yaml",
    "regression": ROOT / "data" / "configs" / "bike_demand.yaml",
    "multiclass": ROOT / "data" / "configs" / "maintenance_failure_type.yaml",
}
TARGET_SECONDS = 60.0


def run_chain(config: Path, folder: Path) -> tuple[float, dict]:
    """Wall seconds of one chain run and its manifest."""
    env = {**os.environ, "KIT_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "kit", "run", str(config), "--out", str(folder / "run"), "--force"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    manifest_path = folder / "run" / "manifest.json"
    if not manifest_path.is_file():
        manifest_path = folder / "run.failed" / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"status": f"exit {proc.returncode}", "phases": []}
    return seconds, manifest


def table(rows: dict[str, tuple[float, dict]]) -> str:
    """Markdown: one row per task with each phase's seconds, the wall total and the verdict."""
    phases = ["readiness", "use_cases", "training", "explainability", "monitoring"]
    lines = ["| task | config | " + " | ".join(phases) + " | wall total | < 60 s |", "|---" * (len(phases) + 4) + "|"]
    for task, (seconds, manifest) in rows.items():
        by_name = {p["name"]: p for p in manifest.get("phases", [])}
        cells = [f"{by_name[p]['seconds']:.1f}" if p in by_name and by_name[p].get("seconds") is not None else "-" for p in phases]
        ok = manifest.get("status") == "ok"
        verdict = ("yes" if seconds < TARGET_SECONDS else "no") if ok else f"failed ({manifest.get('status')})"
        lines.append(f"| {task} | {CONFIGS[task].name} | " + " | ".join(cells) + f" | {seconds:.1f} | {verdict} |")
    return "\n".join(lines)


def main() -> None:
    """Run the chosen tasks' chains once each and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", default=",".join(CONFIGS), help="comma-separated: binary, regression, multiclass")
    args = parser.parse_args()
    rows = {}
    for task in args.tasks.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            rows[task] = run_chain(CONFIGS[task], Path(tmp))
            print(f"{task}: {rows[task][0]:.1f} s ({rows[task][1].get('status')})", flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
