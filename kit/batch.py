"""Run many configs (one per business unit, say) into one batch folder, in parallel."""
from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from kit.errors import KitError

Job = tuple[str, str, bool, bool, str | None, int | None]
WORKER_DIED = ("worker process died while running this config (killed, out of memory, or crashed); "
               "run it alone with `python -m kit run` to see why")


def _outcome(job: Job, error: str, start: float | None = None, status: str = "failed") -> dict[str, Any]:
    """The outcome of a config that did not produce a report."""
    return {"name": Path(job[0]).stem, "config": job[0], "status": status,
            "seconds": round(time.perf_counter() - start, 2) if start is not None else None,
            "report": None, "error": error}


def _run_one(config_path: str, out: str, force: bool, no_input: bool, phases: str | None,
             cell_timeout: int | None = None) -> dict[str, Any]:
    """Run one config in a worker; report its outcome instead of raising (whatever went wrong)."""
    from kit.chain import exception_reason, run_chain

    start = time.perf_counter()
    job = (config_path, out, force, no_input, phases, cell_timeout)
    try:
        manifest, landed = run_chain(config_path, out=out, phases=phases, force=force,
                                     no_input=no_input, progress=None, cell_timeout=cell_timeout)
        failed = manifest.failed_phase()
        return {
            "name": manifest.run_name, "config": config_path, "status": manifest.status,
            "seconds": manifest.seconds, "report": str(landed),
            "error": f"{failed.name}: {failed.error}" if failed else None,
        }
    except KitError as exc:
        return _outcome(job, str(exc), start)
    except Exception as exc:  # full disk, a bug: this config failed, the others go on
        return _outcome(job, exception_reason(exc), start)


def _worker_init() -> None:
    """In a worker: SIGTERM cleans up like Ctrl-C."""
    from kit.chain import on_sigterm

    on_sigterm()


def _run_pool(jobs: list[Job], workers: int, done: Callable[[Job, dict[str, Any]], None]) -> list[Job]:
    """Run ``jobs`` in one pool; return the jobs lost when a worker died (the pool is then broken)."""
    from kit.chain import exception_reason

    lost: list[Job] = []
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context, initializer=_worker_init)
    try:
        futures = {pool.submit(_run_one, *job): job for job in jobs}
        for future in as_completed(futures):
            try:
                done(futures[future], future.result())
            except BrokenProcessPool:
                lost.append(futures[future])
            except Exception as exc:  # the outcome could not come back (unpicklable, ...)
                done(futures[future], _outcome(futures[future], exception_reason(exc)))
    except BaseException:  # Ctrl-C, SIGTERM: the workers clean up their runs and stop
        _stop_workers(list((getattr(pool, "_processes", None) or {}).values()))
        pool.shutdown(wait=True, cancel_futures=True)
        from kit.chain import clean_stale

        for job in jobs:  # build folders of a worker stopped mid-cleanup (no live run holds them any more)
            with _suppress():
                clean_stale(Path(job[1]))
        raise
    pool.shutdown(wait=True)
    return lost


def _stop_workers(processes: list[Any], every: float = 5.0, limit: float = 60.0) -> None:
    """SIGTERM the workers (each cleans up its run and stops), again every ``every`` seconds while one still runs
    (the interrupt can be lost inside the notebook client's event loop), and SIGKILL what runs after ``limit``."""
    deadline = time.monotonic() + limit
    while alive := [p for p in processes if p.is_alive()]:
        if time.monotonic() > deadline:
            for process in alive:
                with _suppress():
                    process.kill()
            return
        for process in alive:
            with _suppress():
                process.terminate()
        waited = time.monotonic() + every
        for process in alive:
            process.join(max(0.0, waited - time.monotonic()))


def _suppress() -> Any:
    """Ignore a worker that is already gone."""
    import contextlib

    return contextlib.suppress(Exception)


BATCH_MARKER = "<title>Batch report</title>"  # in every batch index.html the kit writes


def _check_batch_folder(out: Path) -> None:
    """Refuse a batch folder whose index.html the kit did not write (it would be overwritten)."""
    from kit.chain import DestinationError

    index = out / "index.html"
    if index.is_file() and BATCH_MARKER not in index.read_text(encoding="utf-8", errors="replace")[:2000]:
        raise DestinationError(f"{out}: has an index.html the kit did not write, which a batch would overwrite; "
                               "pass --out a new folder or an earlier batch folder")


def run_batch(
    config_paths: list[str | Path],
    out: str | Path = "reports/batch",
    workers: int = 2,
    force: bool = False,
    no_input: bool = False,
    phases: str | None = None,
    show_progress: bool = True,
    cluster: str | None = None,
    cell_timeout: int | None = None,
) -> list[dict[str, Any]]:
    """Run every config into ``out/<config name>/`` with ``workers`` processes; return outcomes.

    One failing config, for any reason (a worker killed included), does not stop the others, and
    ``out/index.html`` is always written, also when the batch is interrupted. With ``cluster`` (a Dask
    scheduler address) the runs are tasks on that cluster's workers instead, and ``out`` must be on storage
    they share. ``cell_timeout`` (``--cell-timeout``) overrides every config's per-cell timeout. A second batch
    into the same folder while this one runs is refused.
    """
    out = Path(out).expanduser().resolve()
    stems = [Path(p).stem for p in config_paths]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise KitError(f"batch: several configs are named {duplicates[0]!r}; give each config file a unique name")
    if workers < 1:
        raise KitError(f"--workers: expected 1 or more, found {workers}")
    _check_batch_folder(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from kit.chain import unwritable_destination

        raise unwritable_destination(out / "index.html", exc) from None
    jobs: list[Job] = [(str(Path(p).resolve()), str(out / Path(p).stem), force, no_input, phases, cell_timeout)
                       for p in config_paths]
    from kit.chain import destination_lock

    with destination_lock(out, what="batch"):  # a second batch into this folder would rewrite its index
        _check_batch_folder(out)
        return _run_jobs(jobs, out, workers, cluster, show_progress)


def _run_jobs(jobs: list[Job], out: Path, workers: int, cluster: str | None, show_progress: bool) -> list[dict[str, Any]]:
    """Run the jobs (a process pool, or tasks on the Dask cluster), then write ``out/index.html`` whatever happens."""
    from tqdm.auto import tqdm

    from kit.report import write_batch_index

    results: dict[str, dict[str, Any]] = {}
    bar = tqdm(total=len(jobs), desc="runs", unit="run", disable=not show_progress)

    def done(job: Job, result: dict[str, Any]) -> None:
        """Record one outcome."""
        results[job[0]] = result
        bar.set_postfix_str(f"{result['name']}: {result['status']}")
        bar.update()

    try:
        if cluster:  # one task per run on the Dask cluster's workers
            from kit.compute.batch import run_on_cluster

            run_on_cluster(jobs, cluster, done)
        lost = [] if cluster else _run_pool(jobs, workers, done)
        for job in lost:  # alone in a fresh pool each, so a config that kills its worker fails by itself
            if _run_pool([job], 1, done):
                done(job, _outcome(job, WORKER_DIED))
    finally:
        bar.close()
        ordered = [results.get(job[0]) or _outcome(job, "not run: the batch was interrupted") for job in jobs]
        write_batch_index(out, ordered, rollup=_rollup(out, ordered))
    return ordered


def _rollup(out: Path, results: list[dict[str, Any]]) -> dict[str, str]:
    """Build the organization roll-up of the batch's runs (``out/org.html``); say why when it cannot be built."""
    from kit.chain import exception_reason
    from kit.org.build import build_rollup

    try:
        built = build_rollup([r["report"] for r in results if r.get("report")], out,
                             failed=[(r["name"], r.get("error") or r["status"]) for r in results if not r.get("report")])
        return {"href": built["page"].name}
    except Exception as exc:  # the batch index is always written, roll-up or not
        return {"error": exception_reason(exc)}
