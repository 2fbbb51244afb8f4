"""Benchmark the Dask data checks (kit.compute.checks) against the local ones on a generated Parquet dataset.

Run: PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_checks.py --rows 1000000 [--workers 2] [--memory-limit 1GiB]
     [--data /tmp/kit-bench] (not part of `make test`; the data is bench_dask.py's, generated once per size).

Steps on a LocalCluster (worker processes, ``--memory-limit`` each): phase 0's profile of the raw files
(``read_lazy`` + ``profile_frame_dask``) and the training phase's quality report on the cleaned lazy dataset
(``load_lazy`` + ``quality_report_dask`` over a seeded 60 % of the rows). Then the same on the local engine
(``read_table`` + ``profile_frame``, ``load_dataset`` + ``quality_report``) when ``--local-max-rows`` allows,
checking the results are equal. Prints seconds and peak resident memory (per worker; the local process).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def peak_gib() -> float:
    """Peak resident memory of this process in GiB (run on each worker too)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def steps(folder: Path, client: object | None) -> dict[str, tuple[float, object]]:
    """Seconds and result of the profile and the quality report (Dask with a client, else local)."""
    from kit.schema import DatasetSpec
    from kit.training.data import feature_columns

    spec = DatasetSpec(path=folder, target="y", positive_class=1)
    out = {}
    start = time.time()
    if client is not None:
        from kit.compute.checks import profile_frame_dask, quality_report_dask
        from kit.compute.data import read_lazy
        from kit.compute.lazy import load_lazy

        profile = profile_frame_dask(read_lazy(folder), client=client)
        out["profile"] = (time.time() - start, profile)
        start = time.time()
        data = load_lazy(spec, client)
        y = data.column("y").to_numpy().astype(np.int64)
        features = feature_columns(data.frame._meta, spec)
        rows = np.random.default_rng(0).permutation(data.rows)[: int(data.rows * 0.6)]
        report = quality_report_dask(data.frame, spec, features, y, rows=rows, client=client)
    else:
        from kit.data import read_table
        from kit.profile import profile_frame
        from kit.training.data import load_dataset
        from kit.training.quality import quality_report

        profile = profile_frame(read_table(folder, None))
        out["profile"] = (time.time() - start, profile)
        start = time.time()
        frame = load_dataset(spec, show_warnings=False)
        y = frame["y"].to_numpy().astype(np.int64)
        rows = np.random.default_rng(0).permutation(len(frame))[: int(len(frame) * 0.6)]
        report = quality_report(frame, spec, feature_columns(frame, spec), y, rows=rows)
    out["quality report"] = (time.time() - start, report)
    return out


def main() -> None:
    """Run both engines for each size and print a Markdown table."""
    from bench_dask import generate, in_memory_bytes
    from distributed import Client, LocalCluster

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="1GiB")
    parser.add_argument("--data", type=Path, default=Path("/tmp/kit-bench"))
    parser.add_argument("--local-max-rows", type=int, default=2_000_000)
    args = parser.parse_args()
    print("| rows | in-memory | step | Dask s | peak RSS per worker GiB | local s | local peak GiB | equal |")
    print("|---|---|---|---|---|---|---|---|")
    for rows in args.rows:
        folder = generate(args.data / f"train-{rows}", rows)
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                          memory_limit=args.memory_limit, silence_logs=40) as cluster, Client(cluster) as client:
            scaled = steps(folder, client)
            peaks = sorted(round(v, 2) for v in client.run(peak_gib).values())
        local = steps(folder, None) if rows <= args.local_max_rows else {}
        for step, (seconds, result) in scaled.items():
            there = local.get(step)
            same = "" if there is None else str(there[1].to_dict() == result.to_dict())
            print(f"| {rows:,} | {in_memory_bytes(folder) / 2**30:.2f} GiB | {step} | {seconds:.1f} | {peaks} | "
                  f"{'' if there is None else f'{there[0]:.1f}'} | {'' if there is None else f'{peak_gib():.2f}'} | {same} |",
                  flush=True)


if __name__ == "__main__":
    main()
