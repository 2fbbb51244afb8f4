"""Benchmark of the organization roll-up: `.venv/bin/python tests/benchmarks/bench_org.py [--runs 50] [--repeat 3]`.

Copies the example's real run folders (tests/data/org_runs, or --source with run folders such as a
`make org` batch) into N folders with varied business units, dates and run names, then times
``build_rollup`` over all of them (reading every manifest and artifact, tables, page and org.json).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "tests" / "data" / "org_runs"
UNITS = ["Consumer mobile", "Consumer lending", "Field operations", "Wholesale", "Retail banking", "Logistics",
         "Marketing", "Network operations", "Customer care", "Procurement", "HR analytics", "Energy"]
DATES = ["2025-12-31", "2026-03-31", "2026-06-30", "2026-09-30"]


def make_runs(source: Path, n: int, dest: Path) -> list[Path]:
    """``n`` copies of the run folders in ``source``, each with its own unit, date and run name."""
    templates = sorted(p for p in source.iterdir() if (p / "manifest.json").is_file())
    folders = []
    for i in range(n):
        folder = dest / f"run-{i:03d}"
        shutil.copytree(templates[i % len(templates)], folder,
                        ignore=shutil.ignore_patterns("*.html", "*.ipynb", "logs", "explain", "model", "challenger"))
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest.update(run_name=folder.name, business_unit=UNITS[i % len(UNITS)], as_of=DATES[(i // len(UNITS)) % len(DATES)])
        (folder / "manifest.json").write_text(json.dumps(manifest))
        folders.append(folder)
    return folders


def main() -> None:
    """Time the roll-up of N copied runs and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--source", type=Path, default=SOURCE)
    args = parser.parse_args()
    from kit.org.build import build_rollup

    with tempfile.TemporaryDirectory(prefix="bench_org_") as tmp:
        folders = make_runs(args.source, args.runs, Path(tmp) / "runs")
        seconds = []
        for k in range(args.repeat):
            start = time.perf_counter()
            result = build_rollup([Path(tmp) / "runs"], Path(tmp) / f"out{k}")
            seconds.append(time.perf_counter() - start)
        size = (result["page"].stat().st_size, result["data"].stat().st_size)
    print(f"roll-up of {len(folders)} run folders ({result['units']} units): "
          f"median {statistics.median(seconds):.2f} s, min {min(seconds):.2f} s over {args.repeat} builds; "
          f"org.html {size[0] / 1024:.0f} KiB, org.json {size[1] / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
