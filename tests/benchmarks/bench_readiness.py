"""Benchmark of the readiness phase: `.venv/bin/python tests/benchmarks/bench_readiness.py [--runs N]`.

Measures the pure assessment, the notebook executed in-process with papermill (as the chain does)
and the papermill command line (kernel start included), on the demo config.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "00_readiness.ipynb"
CONFIG = ROOT / "data" / "configs" / "demo.yaml"


def timed(fn: object, runs: int) -> list[float]:
    """Wall-clock seconds of ``runs`` calls of ``fn``."""
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - start)
    return out


def baseline_notebook(path: Path) -> Path:
    """A notebook that only imports pandas and matplotlib and draws one figure (the floor)."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import pandas as pd\nimport matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2])")])
    nb.metadata["kernelspec"] = {"name": "kit", "display_name": "kit", "language": "python"}
    nbformat.write(nb, path)
    return path


def bench(runs: int) -> dict[str, list[float]]:
    """Time the three ways of running the phase."""
    import papermill as pm

    from kit.config import load_config
    from kit.readiness.assess import assess, profile_dataset

    config = load_config(CONFIG)
    tmp = Path(tempfile.mkdtemp(prefix="bench_readiness_"))
    params = {"config_path": str(CONFIG), "run_dir": str(tmp / "run"), "interactive": False}
    cli = [str(Path(sys.executable).parent / "papermill"), str(NOTEBOOK), str(tmp / "cli.ipynb"), "-k", "kit",
           "-p", "config_path", str(CONFIG), "-p", "run_dir", str(tmp / "run"), "-p", "interactive", "False",
           "--no-progress-bar"]
    floor = baseline_notebook(tmp / "floor.ipynb")
    return {
        "floor: pandas+matplotlib notebook": timed(lambda: pm.execute_notebook(
            str(floor), str(tmp / "floor_out.ipynb"), kernel_name="kit", progress_bar=False), runs),
        "assess + profile (pure, warm)": timed(lambda: assess(config.readiness, profile_dataset(config)), runs),
        "notebook, in-process papermill": timed(lambda: pm.execute_notebook(
            str(NOTEBOOK), str(tmp / "out.ipynb"), parameters=params, kernel_name="kit",
            progress_bar=False, cwd=str(NOTEBOOK.parent)), runs),
        "notebook, papermill CLI": timed(lambda: subprocess.run(cli, check=True, capture_output=True), runs),
    }


def main() -> None:
    """Run the benchmark and print median and min per measurement."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import logging

    logging.getLogger("papermill").setLevel(logging.WARNING)
    for name, times in bench(args.runs).items():
        print(f"{name:34s} median {statistics.median(times):6.3f} s  min {min(times):6.3f} s  (n={len(times)})")


if __name__ == "__main__":
    main()
