"""Benchmark the chain's overhead: kernel start, imports, HTML export, and batch throughput.

Run: .venv/bin/python tests/benchmarks/bench_chain.py [--configs N] (not part of `make test`).
Prints a Markdown table for the README.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from kit.chain import _execute, ensure_kernel  # noqa: E402
from kit.config import load_config  # noqa: E402
from kit.phases import NOTEBOOK_DIR, PHASES, Phase  # noqa: E402

DEMO = ROOT / "data" / "configs" / "demo.yaml"


def _trivial_notebook(folder: Path, source: str) -> Phase:
    """A one-cell phase notebook named like the readiness phase."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('config_path = ""\nrun_dir = ""\ninteractive = True')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, folder / PHASES[0].notebook)
    return PHASES[0]


def time_notebook(source: str, repeat: int = 3) -> float:
    """Median wall time of executing a trivial notebook through the chain's own executor."""
    config = load_config(DEMO)
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "nb").mkdir()
            phase = _trivial_notebook(tmp / "nb", source)
            start = time.perf_counter()
            record = _execute(phase, config, tmp, tmp / "nb")
            times.append(time.perf_counter() - start)
            assert record.status == "ok", record.error
    return statistics.median(times)


def time_export() -> tuple[float, float]:
    """Seconds of exporting the executed readiness notebook to HTML: first in a fresh process, then again."""
    code = (
        "import sys, time\nsys.modules['rfc3987_syntax'] = None  # as the command line does\n"
        "from pathlib import Path\nfrom kit.chain import export_html\n"
        "times = []\nfor _ in range(2):\n"
        "    start = time.perf_counter(); export_html(Path(sys.argv[1])); times.append(time.perf_counter() - start)\n"
        "print(*times)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "kit", "run", str(DEMO), "--out", f"{tmp}/r", "--phases", "readiness"],
                       check=True, capture_output=True, cwd=ROOT)
        out = subprocess.run([sys.executable, "-c", code, f"{tmp}/r/{PHASES[0].notebook}"], check=True,
                             capture_output=True, text=True, cwd=ROOT).stdout.split()
    return float(out[0]), float(out[1])


def time_phases(phases: str | None = None) -> dict[str, float]:
    """Per-phase seconds of one demo chain run through the CLI, and the command's wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kit", "run", str(DEMO), "--out", f"{tmp}/demo",
                        *(["--phases", phases] if phases else [])], check=True, capture_output=True, cwd=ROOT)
        total = time.perf_counter() - start
        import json

        manifest = json.loads(Path(f"{tmp}/demo/manifest.json").read_text())
    return {**{p["name"]: p["seconds"] for p in manifest["phases"]}, "command, wall": total}


def time_prestart(phases: str, repeat: int = 3) -> tuple[float, float]:
    """Median in-process chain seconds with kernels started ahead of their phase, and without."""
    import kit.chain as chain

    def once(prestart: bool) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            saved = chain._start_kernel
            if not prestart:
                chain._start_kernel = lambda *args: None  # papermill starts each kernel itself
            try:
                start = time.perf_counter()
                chain.run_chain(DEMO, out=f"{tmp}/demo", phases=phases, progress=None)
                return time.perf_counter() - start
            finally:
                chain._start_kernel = saved

    runs = [(once(True), once(False)) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def time_batch(n_configs: int, workers: int, phases: str) -> float:
    """Wall time of a batch of ``n_configs`` copies of the demo config."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        configs = []
        for i in range(n_configs):
            text = DEMO.read_text().replace("name: demo", f"name: unit{i}")
            text = text.replace("../", f"{DEMO.parent.parent}/")
            path = tmp / f"unit{i}.yaml"
            path.write_text(text)
            configs.append(str(path))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kit", "batch", *configs, "--workers", str(workers),
                        "--out", str(tmp / "out"), "--phases", phases], check=True, capture_output=True, cwd=ROOT)
        return time.perf_counter() - start


def main() -> None:
    """Run every measurement and print a Markdown table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", type=int, default=4, help="configs per batch")
    parser.add_argument("--batch-phases", default="readiness,use_cases")
    args = parser.parse_args()
    ensure_kernel()
    rows = [
        ("kernel start + empty notebook", time_notebook("pass")),
        ("+ import pandas", time_notebook("import pandas")),
        ("+ import kit.readiness path (config, pandas, matplotlib)",
         time_notebook("import kit.notebook, matplotlib.pyplot")),
        ("+ import pandas, sklearn, xgboost, lightgbm, shap",
         time_notebook("import pandas, sklearn, xgboost, lightgbm, shap")),
    ]
    first, again = time_export()
    rows += [("HTML export of the readiness notebook, first in a process", first),
             ("HTML export, later ones (the exporter is reused)", again)]
    if (NOTEBOOK_DIR / PHASES[0].notebook).is_file():
        for phases in ("readiness", "use_cases"):
            alone = time_phases(phases)
            rows += [(f"`--phases {phases}` alone: phase", alone[phases]),
                     (f"`--phases {phases}` alone: command, wall", alone["command, wall"])]
        rows += [(f"phase {k}" if k != "command, wall" else "whole chain: command, wall", v)
                 for k, v in time_phases().items()]
        ahead, without = time_prestart("readiness,use_cases")
        rows += [("readiness + use cases in-process, kernels started ahead", ahead),
                 ("readiness + use cases in-process, papermill starting each kernel", without)]
        one = time_batch(args.configs, 1, args.batch_phases)
        two = time_batch(args.configs, 2, args.batch_phases)
        rows += [
            (f"batch of {args.configs} ({args.batch_phases}), 1 worker", one),
            (f"batch of {args.configs} ({args.batch_phases}), 2 workers", two),
            ("batch speed-up with 2 workers", one / two),
        ]
    print("| measurement | seconds |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value:.2f} |")


if __name__ == "__main__":
    main()
