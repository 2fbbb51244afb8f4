"""``kit batch`` on a Dask cluster: one run per task on the cluster's workers, the report folders on shared storage.

The guarantees of the process-pool batch hold: one failing config (a raised error, a killed worker) does not stop
the others, every outcome is recorded, and the caller writes the index whatever happens. Each task is retried
by the scheduler as its ``distributed.scheduler.allowed-failures`` says; a job lost with a dead worker then runs
once more alone, and fails by itself if it kills that worker too.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

WORKER_LOST = ("the Dask worker running this config died (killed, out of memory, or crashed) and the scheduler gave "
               "it up; run it alone with `python -m kit run` to see why")


def run_on_cluster(jobs: list[tuple], address: str, done: Callable[[tuple, dict[str, Any]], None]) -> None:
    """Run every job (``kit.batch._run_one``'s arguments) as one task on the cluster at ``address``.

    Jobs lost with a dying worker (the one that killed it, and any queued beside it) run again one at a time,
    so a config that kills its worker fails by itself and the others complete.
    """
    from kit.compute.engine import _connect

    client = _connect(address)
    try:
        lost = _submit_all(client, jobs, done)
        for job in lost:
            if _submit_all(client, [job], done):
                from kit.batch import _outcome

                done(job, _outcome(job, WORKER_LOST))
    finally:
        client.close()


def _submit_all(client: Any, jobs: list[tuple], done: Callable[[tuple, dict[str, Any]], None]) -> list[tuple]:
    """Submit ``jobs``, record each outcome as it completes; return the jobs whose worker died."""
    from distributed import as_completed
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    from kit.batch import _outcome, _run_one
    from kit.chain import exception_reason

    lost: list[tuple] = []
    futures = {client.submit(_run_one, *job, pure=False): job for job in jobs}
    try:
        for future in as_completed(futures, loop=client.loop):
            job = futures[future]
            try:
                done(job, future.result())
            except (KilledWorker, FutureCancelledError):
                lost.append(job)
            except Exception as exc:  # the outcome could not come back
                done(job, _outcome(job, exception_reason(exc)))
    finally:
        for future in futures:  # nothing keeps running after an interruption
            future.cancel()
    return lost
