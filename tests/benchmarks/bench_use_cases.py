"""Time the use-case phase: in-process steps, heavy imports, and the notebook end to end with papermill.

Run: ``.venv/bin/python tests/benchmarks/bench_use_cases.py [config]`` (prints one JSON object).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sklearn", "xgboost", "lightgbm", "shap", "mlflow")


def in_process(config_path: str, run_dir: str) -> dict[str, Any]:
    """Seconds per step of the phase in this process, and which heavy libraries got imported."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    from kit.notebook import start
    from kit.use_cases import display as show
    from kit.use_cases import phase
    from kit.use_cases.portfolio import load_portfolio, resolve_weights

    times = {"import": time.perf_counter() - t0}
    marks = time.perf_counter()

    def lap(name: str) -> None:
        """Record the seconds since the previous lap."""
        nonlocal marks
        now = time.perf_counter()
        times[name], marks = now - marks, now

    ctx = start(config_path, run_dir)
    lap("config")
    readiness = phase.readiness_inputs(ctx)
    portfolio = load_portfolio(ctx.config)
    weights = resolve_weights(ctx.config.use_cases.weights)
    ranking = phase.rank_portfolio(portfolio, weights, readiness, ctx.config)
    lap("score_and_roi")
    stability = phase.stability_for(portfolio, ranking, weights, ctx.config)
    lap("stability_2000_draws")
    pilot = phase.pick_pilot(portfolio, ranking, readiness, ctx.config)
    ctx.write("use_cases", phase.build_artifact(ranking, stability, weights, readiness, pilot, portfolio, ctx.config))
    lap("pilot_and_artifact")
    show.bubble_chart(ranking, pilot.name), show.roi_chart(ranking), show.stability_chart(stability)
    show.ranked_table(ranking).to_html()
    lap("figures")
    times = {k: round(v, 4) for k, v in times.items()}
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"seconds": times, "in_process_wall": round(wall, 3), "in_process_cpu": round(cpu, 3),
            "heavy_imports": [m for m in HEAVY if m in sys.modules]}


def notebook(config_path: str, run_dir: str, repeats: int = 3) -> list[float]:
    """Wall seconds of `papermill` on notebook 01 (fresh process and kernel each time)."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).parent / "papermill"), "01_use_cases.ipynb", str(Path(run_dir) / "out.ipynb"),
             "-k", "kit", "-p", "config_path", config_path, "-p", "run_dir", run_dir, "-p", "interactive", "False"],
            cwd=ROOT / "notebooks", check=True, capture_output=True,
        )
        out.append(round(time.perf_counter() - t0, 2))
    return out


def in_kernel(config_path: str, run_dir: str, repeats: int = 3) -> list[float]:
    """Seconds of papermill.execute_notebook in one process: kernel start plus every cell."""
    import papermill as pm

    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pm.execute_notebook(str(ROOT / "notebooks" / "01_use_cases.ipynb"), str(Path(run_dir) / "out.ipynb"),
                            kernel_name="kit", parameters={"config_path": config_path, "run_dir": run_dir, "interactive": False},
                            cwd=str(ROOT / "notebooks"), progress_bar=False, log_output=False)
        out.append(round(time.perf_counter() - t0, 2))
    return out


def baseline(run_dir: str, repeats: int = 3) -> list[float]:
    """Seconds of papermill.execute_notebook on a one-cell notebook: the kernel's fixed cost on this machine."""
    import nbformat
    import papermill as pm

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    nb.metadata["kernelspec"] = {"name": "kit", "display_name": "kit", "language": "python"}
    path = Path(run_dir) / "trivial.ipynb"
    nbformat.write(nb, path)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pm.execute_notebook(str(path), str(path.with_name("trivial_out.ipynb")), kernel_name="kit", progress_bar=False)
        out.append(round(time.perf_counter() - t0, 2))
    return out


def main() -> None:
    """Print the timings as JSON."""
    config = str(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "data" / "configs" / "demo.yaml").resolve())
    with tempfile.TemporaryDirectory() as run_dir:
        result = in_process(config, run_dir)
        result["trivial_notebook_seconds"] = baseline(run_dir)
        result["papermill_execute_seconds"] = in_kernel(config, run_dir)
        result["papermill_cli_seconds"] = notebook(config, run_dir)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
