"""Several processes sharing one new SQLite tracking store (kit batch --workers N, two chains at once)."""
from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from kit.training.registry import Registry


def _register(uri: str, barrier: mp.Barrier, queue: mp.Queue) -> None:
    """Open the store, log a run and register it under a shared name, all at once with the others."""
    try:
        barrier.wait(timeout=60)
        registry = Registry(uri)
        run_id = registry.log_candidate("shared-experiment", "run", {"p": 1}, {"m": 0.5})
        queue.put(("ok", registry.register("shared-model", run_id)))
    except Exception as exc:  # reported to the parent, which fails the test with it
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def test_processes_creating_one_new_store_and_model_name_do_not_race(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    ctx = mp.get_context("spawn")
    workers = 4
    barrier, queue = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_register, args=(uri, barrier, queue)) for _ in range(workers)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [r for r in results if r[0] == "error"] == []
    assert sorted(int(v) for _, v in results) == [1, 2, 3, 4]  # every run became its own version
