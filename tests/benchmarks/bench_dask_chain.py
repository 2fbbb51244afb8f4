"""Benchmark the whole five-phase chain on a generated Parquet dataset, on the Dask engine and on the local one.

Run: PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_dask_chain.py --rows 1000000 [--engines dask,local]
     [--workers 2] [--memory-limit 2GiB] [--data /tmp/kit-bench] (not part of `make test`).

The data is tests/benchmarks/bench_dask.py's (27 numeric + 3 categorical columns and a binary target, Parquet files
of 500,000 rows). The config is a user's minimal one (path, target, positive class; xgboost; its own MLflow store).
On Dask the benchmark starts a LocalCluster (worker processes, ``--memory-limit`` each) and runs the chain with
``--cluster`` so it can read each worker's peak memory afterwards; the local engine runs the same chain in-process
(its peak is the largest process of the chain: a phase kernel). Prints seconds per phase and peak memory as Markdown.
"""
from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dask import _peak_rss, generate, in_memory_bytes  # noqa: E402

PHASE_LINE = re.compile(r"\[\d/5\]\s+(\w+)\s+(\w+)\s+([\d.]+) s")


def config(folder: Path, work: Path, engine: str) -> Path:
    """A minimal run config on the generated dataset."""
    data = {
        "name": f"bench-{engine}", "seed": 0,
        "organization": {"name": "Benchmark Inc."},
        "dataset": {"name": "generated", "path": str(folder), "target": "y", "positive_class": 1},
        "training": {"algorithms": ["xgboost"], "tracking_uri": f"sqlite:///{work / 'mlflow.db'}"},
    }
    path = work / f"{engine}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def run_chain(cfg: Path, out: Path, cluster: str | None) -> tuple[dict[str, float], float, str]:
    """Run the chain; seconds per phase, total seconds, and the final status line."""
    command = [sys.executable, "-m", "kit", "run", str(cfg), "--out", str(out), "--force"]
    command += ["--cluster", cluster] if cluster else []
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=None)
    total = time.perf_counter() - start
    phases = {m.group(1): float(m.group(3)) for m in PHASE_LINE.finditer(done.stdout)}
    status = (done.stdout.strip().splitlines() or [done.stderr.strip()[-300:]])[-1]
    return phases, total, status


def run_dask(cfg: Path, out: Path, workers: int, memory_limit: str) -> dict:
    """The chain on a LocalCluster the benchmark holds (so the workers' peak memory can be read after)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, memory_limit=memory_limit, processes=True,
                      dashboard_address=":0", silence_logs=40) as cluster, Client(cluster) as client:
        phases, total, status = run_chain(cfg, out, cluster.scheduler_address)
        peak = max(client.run(_peak_rss).values())
    return {"phases": phases, "total": total, "status": status, "peak": peak, "client": _children_peak()}


def run_local(cfg: Path, out: Path) -> dict:
    """The chain on the local engine; the peak is the largest process the chain ran."""
    phases, total, status = run_chain(cfg, out, None)
    return {"phases": phases, "total": total, "status": status, "peak": float("nan"), "client": _children_peak()}


def _children_peak() -> int:
    """The largest process the chain ran so far (the phase kernels are among them), in bytes.

    Run one engine per invocation (``--engines dask``, then ``--engines local``) for figures of its own."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def main() -> int:
    """Generate, run, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--engines", default="dask,local")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="2GiB")
    parser.add_argument("--data", type=Path, default=Path("/tmp/kit-bench"))
    args = parser.parse_args()
    phases = ("readiness", "use_cases", "training", "explainability", "monitoring")
    print("| rows | in-memory | engine | " + " | ".join(f"{p} s" for p in phases) + " | chain s | peak per worker | peak of the chain's processes | status |")
    print("|---" * (len(phases) + 7) + "|")
    for rows in args.rows:
        folder = generate(args.data / f"train-{rows}", rows)
        size = in_memory_bytes(folder) / 2**30
        for engine in args.engines.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                cfg = config(folder, work, engine)
                if engine == "dask":
                    result = run_dask(cfg, work / "out", args.workers, args.memory_limit)
                    label = f"Dask {args.workers} × {args.memory_limit}"
                else:
                    result = run_local(cfg, work / "out")
                    label = "local"
            cells = " | ".join(f"{result['phases'].get(p, float('nan')):.1f}" for p in phases)
            print(f"| {rows:,} | {size:.2f} GiB | {label} | {cells} | {result['total']:.1f} | "
                  f"{result['peak'] / 2**30:.2f} GiB | {result['client'] / 2**30:.2f} GiB | {result['status'][:60]} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
