"""Run many configs (one per business unit, say) into one batch folder, in parallel."""
from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from kit.errors import KitError


def _run_one(config_path: str, out: str, force: bool, no_input: bool, phases: str | None) -> dict[str, Any]:
    """Run one config in a worker; report its outcome instead of raising."""
    from kit.chain import run_chain

    name = Path(config_path).stem
    start = time.perf_counter()
    try:
        manifest, landed = run_chain(config_path, out=out, phases=phases, force=force,
                                    no_input=no_input, progress=None)
        failed = manifest.failed_phase()
        return {
            "name": manifest.run_name, "config": config_path, "status": manifest.status,
            "seconds": manifest.seconds, "report": str(landed),
            "error": f"{failed.name}: {failed.error}" if failed else None,
        }
    except KitError as exc:
        return {"name": name, "config": config_path, "status": "failed",
                "seconds": round(time.perf_counter() - start, 2), "report": None, "error": str(exc)}


def run_batch(
    config_paths: list[str | Path],
    out: str | Path = "reports/batch",
    workers: int = 2,
    force: bool = False,
    no_input: bool = False,
    phases: str | None = None,
    show_progress: bool = True,
) -> list[dict[str, Any]]:
    """Run every config into ``out/<config name>/`` with ``workers`` processes; return outcomes."""
    from tqdm.auto import tqdm

    from kit.report import write_batch_index

    out = Path(out).expanduser().resolve()
    stems = [Path(p).stem for p in config_paths]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise KitError(f"batch: several configs are named {duplicates[0]!r}; give each config file a unique name")
    if workers < 1:
        raise KitError(f"--workers: expected 1 or more, found {workers}")
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(str(Path(p).resolve()), str(out / Path(p).stem), force, no_input, phases) for p in config_paths]
    results: dict[str, dict[str, Any]] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        futures = {pool.submit(_run_one, *job): job[0] for job in jobs}
        bar = tqdm(total=len(jobs), desc="runs", unit="run", disable=not show_progress)
        for future in as_completed(futures):
            result = future.result()
            results[futures[future]] = result
            bar.set_postfix_str(f"{result['name']}: {result['status']}")
            bar.update()
        bar.close()
    ordered = [results[job[0]] for job in jobs]
    write_batch_index(out, ordered)
    return ordered
