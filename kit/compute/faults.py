"""A Dask cluster failing under a step: a ClusterError saying what died, where and the fix; training retried once.

What the kit does when something dies while a step runs on the cluster:

* A worker under plain dataframe tasks (reading, preparing, drift summaries, SHAP per partition): Dask itself
  computes the lost partitions again on the workers that are left; the kit only watches. A task whose worker
  died more often than the scheduler allows (``distributed.scheduler.allowed-failures``) is given up
  (KilledWorker): a ClusterError naming the task.
* A worker under a booster's training (xgboost.dask, lightgbm.dask): the training's collective (XGBoost's ring,
  LightGBM's socket network) cannot lose a member, so the call fails (socket errors) or waits for the dead
  worker for ever. The kit abandons that attempt (its tasks cancelled, workers stuck in the collective
  restarted) and trains once more on the workers that are left, which read the partitions again from the
  source; ``model.info["retried"]`` says so. A second failure is the ClusterError.
* Every worker, or the scheduler: nothing can run; a ClusterError after ``stuck_after_seconds`` at the latest,
  instead of a hang.
* Data a step needs, lost with a worker and computed again by nothing (no task runs or is queued anywhere while
  the step's tasks wait for their inputs): the same ClusterError after ``stuck_after_seconds``; retried under a
  booster's training like a dead worker.
"""
from __future__ import annotations

import functools
import inspect
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kit import content
from kit.errors import KitError

T = TypeVar("T")
_LOCAL = threading.local()  # .guarded: this thread already runs under a guard (nested entry points run directly)
_BROKEN = re.compile(r"Missing required workers|Invalid worker address|workers? died|Socket (recv|send) error|Connect(ing)? to .* failed|"
                     r"Connection (reset|refused|closed)|Broken pipe|ring all(reduce|gather)|all(reduce|gather) "
                     r"failed|Poll error|Stream is closed|tracker|communicator", re.IGNORECASE)
"""Messages of a broken collective or connection (XGBoost, LightGBM, distributed) when a worker died."""


class ClusterError(KitError):
    """The Dask cluster lost a worker or its scheduler under a step; the message names what, where and the fix."""

    exit_code = 1
    died: tuple[str, ...] = ()     # addresses of the workers that left during the step
    retryable: bool = False        # workers are left: starting the step again can succeed
    cause: str = ""                # the distributed failure, one line
    workers_before: int = 0        # workers in the cluster when the step began (a retry waits for them to come back)


def settings() -> dict[str, float]:
    """The watch's timings and the training retries (kit/content/compute.yaml)."""
    return content.load("compute")["faults"]


def _one_line(exc: BaseException) -> str:
    """``Type: message`` in one line, without the timestamps, source places and stack traces boosters add."""
    lines = (re.sub(r"\[[^\]]*\]:?|^\s*-\s*|\S+\.(cc|h|cpp):\d+:?", " ", line) for line in str(exc).splitlines())
    words = [" ".join(line.split()) for line in lines if not line.strip().startswith("Stack trace")]
    text = next((w for w in words if len(w.split()) >= 2), next((w for w in words if w), ""))
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _chain(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and its causes and contexts."""
    seen: list[BaseException] = []
    while exc is not None and all(exc is not s for s in seen):
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _gib(size: int | float | None) -> str:
    """A memory size as 'x.y GiB' ('no limit' for 0 or None)."""
    return f"{size / 2**30:.1f} GiB" if size else "no limit"


def _fix(memory: list[int]) -> str:
    """What a user can do about workers that die."""
    now = f", now {_gib(max(memory))} per worker" if memory else ""
    return (f"give each worker more memory (compute.memory_limit{now}; running out of memory is the usual cause), "
            "use lighter partitions (more, smaller Parquet files) or fewer features, or run again")


def _error(message: str, died: list[str] | tuple[str, ...] = (), retryable: bool = False,
           cause: str = "") -> ClusterError:
    """A ClusterError with its facts attached (they survive pickling: exceptions keep their __dict__)."""
    error = ClusterError(message)
    error.died, error.retryable, error.cause = tuple(died), retryable, cause
    return error


def _scheduler_view(client: Any) -> dict[str, Any]:
    """The scheduler's workers (address -> memory limit), its tasks waiting for a worker: key -> (seconds,
    whether it can never run: pinned to workers that are all gone, as a booster's training tasks are), and, when
    nothing runs or is queued anywhere, the tasks still waiting for inputs (which then nothing will compute)."""

    def view(dask_scheduler: Any) -> dict[str, Any]:  # runs on the scheduler (pickled by value: no kit needed there)
        import time as clock

        now, workers = clock.monotonic(), dask_scheduler.workers
        busy = any(w.processing for w in workers.values()) or bool(dask_scheduler.queued) \
            or bool(dask_scheduler.unrunnable)
        return {"workers": {a: int(w.memory_limit or 0) for a, w in workers.items()},
                "nannied": [a for a, w in workers.items() if w.nanny],
                "waiting": {str(t.key): (now - since, bool(t.worker_restrictions) and not t.loose_restrictions
                                         and not any(w in workers for w in t.worker_restrictions))
                            for t, since in dask_scheduler.unrunnable.items()},
                "stalled": [] if busy else [str(t.key) for t in dask_scheduler.tasks.values() if t.state == "waiting"]}

    return client.run_on_scheduler(view)


class Watch:
    """The workers seen while a step runs, and the checks made meanwhile."""

    def __init__(self, client: Any, step: str) -> None:
        self.client, self.step = client, step
        self.address = getattr(client.scheduler, "address", "?")
        self.known: dict[str, int] = {}  # every worker seen during the step (address -> memory limit)
        view = self._view()
        self.earlier = set(view["waiting"]) | set(view["stalled"])  # tasks stuck before the step began: not its own
        self.workers_before = len(view["workers"])
        self.empty_since: float | None = None  # when the cluster was last seen to have lost its last worker
        self.stalled_since: float | None = None  # since when nothing runs while tasks of this step wait for inputs

    def _view(self) -> dict[str, Any]:
        """The scheduler's view, or the ClusterError for a scheduler that no longer answers."""
        try:
            if self.client.status in ("closing", "closed"):
                raise OSError(f"client {self.client.status}")
            view = _scheduler_view(self.client)
        except (OSError, TimeoutError) as exc:  # CommClosedError is an OSError
            raise _error(f"compute (Dask): the scheduler at {self.address} stopped answering during {self.step} "
                         f"({_one_line(exc)}); restart the cluster (or fix compute.address / KIT_CLUSTER) and run "
                         "again", cause=_one_line(exc)) from None
        self.known.update(view["workers"])
        return view

    def gone(self, now: dict[str, int]) -> list[str]:
        """Workers seen during the step and gone now (a worker the nanny restarts comes back at a new address)."""
        return sorted(set(self.known) - set(now))

    def check(self) -> None:
        """Raise the ClusterError when a task of this step can never run (pinned to a dead worker), or has waited
        ``stuck_after_seconds`` for a worker (none left)."""
        view = self._view()
        mine = [wait for key, wait in view["waiting"].items() if key not in self.earlier]
        stuck, hopeless = max((age for age, _ in mine), default=0.0), any(never for _, never in mine)
        if view["workers"]:
            self.empty_since = None
        else:  # queued tasks do not count as waiting for a worker: time the empty cluster here
            self.empty_since = self.empty_since or time.monotonic()
            stuck = max(stuck, time.monotonic() - self.empty_since)
        self._check_stalled(view)
        if stuck <= float(settings()["stuck_after_seconds"]) and not (hopeless and view["workers"]):
            return
        died, left = self.gone(view["workers"]), sorted(view["workers"])
        if not left:
            raise _error(f"compute (Dask): no worker left in the cluster at {self.address} during {self.step} "
                         f"({self._named(died)} died, none came back in {settings()['stuck_after_seconds']} s); "
                         f"{_fix(list(self.known.values()))}, and check the cluster's workers are running",
                         died=died, cause="no worker left")
        raise _error(f"compute (Dask): {self._named(died)} died during {self.step}, which has tasks that can "
                     "run only there (a booster's training runs one task pinned to each of its workers); "
                     f"{_fix(list(self.known.values()))}", died=died, retryable=True, cause="stuck on a dead worker")

    def _check_stalled(self, view: dict[str, Any]) -> None:
        """Raise the ClusterError when, for ``stuck_after_seconds``, no worker has run anything while tasks of this
        step wait for inputs: data lost with a dead worker that nothing computes again (the step would wait for
        ever)."""
        stalled = [key for key in view["stalled"] if key not in self.earlier]
        if not stalled or not view["workers"]:
            self.stalled_since = None
            return
        self.stalled_since = self.stalled_since or time.monotonic()
        limit = float(settings()["stuck_after_seconds"])
        if time.monotonic() - self.stalled_since <= limit:
            return
        died = self.gone(view["workers"])
        raise _error(f"compute (Dask): the cluster stopped making progress during {self.step}: {len(stalled)} "
                     f"task(s) waited {limit:g} s for inputs that no worker computes ({self._named(died)} died, "
                     f"and its data with it); {_fix(list(self.known.values()))}", died=died, retryable=True,
                     cause="stalled on lost data")

    def _named(self, died: list[str]) -> str:
        """'worker tcp://...' or 'workers a, b' (or 'a worker' when the address is unknown)."""
        if not died:
            return "a worker"
        return ("worker " if len(died) == 1 else "workers ") + ", ".join(died)

    def explain(self, exc: BaseException) -> ClusterError | None:
        """The ClusterError for a distributed failure behind ``exc`` (None for any other error: it stays itself)."""
        if isinstance(exc, KitError):
            return exc if isinstance(exc, ClusterError) else None
        killed = next((e for e in _chain(exc) if type(e).__name__ == "KilledWorker"), None)
        broken = killed or next((e for e in _chain(exc) if _is_broken(e)), None)
        if broken is None:
            return None
        died = self.gone(self._view()["workers"])
        memory = list(self.known.values())
        if killed is not None:
            last = getattr(getattr(killed, "last_worker", None), "address", "?")
            return _error(f"compute (Dask): task {_task_name(killed)} killed every worker that ran it "
                          f"({getattr(killed, 'allowed_failures', 0) + 1} attempts, the last on {last}) during "
                          f"{self.step}; {_fix(memory)}", died=died, cause=_one_line(killed))
        return _error(f"compute (Dask): {self._named(died)} died during {self.step} ({_one_line(broken)}); "
                      f"{_fix(memory)}", died=died, retryable=True, cause=_one_line(broken))

    def abandon(self) -> None:
        """Cancel this step's tasks pinned to dead workers and restart the workers that took part in its collective.

        A broken collective leaves state behind in the survivors (LightGBM keeps its socket network open after
        an error, so the next training in that process fails with "Broken pipe"; a survivor may also wait for
        the dead peer for ever): a fresh process is the only clean state. Only the pinned tasks are cancelled
        (their keys are unique); the others have the keys a retry computes again.
        """
        try:
            view = self._view()
            pinned = [k for k, (_, never) in view["waiting"].items() if never and k not in self.earlier]
            if pinned:
                from distributed import Future

                self.client.cancel([Future(k, self.client) for k in pinned])
            survivors = sorted(set(self.known) & set(view["nannied"]))  # without a nanny: it would only stop
            if survivors:
                self.client.restart_workers(survivors, timeout=float(settings()["restart_seconds"]),
                                            raise_for_error=False)
        except (OSError, TimeoutError, ClusterError):  # the cluster is going away: nothing left to clean
            pass


def _task_name(killed: BaseException) -> str:
    """The task a KilledWorker names, as text."""
    task = getattr(killed, "task", "?")
    return repr(task[0] if isinstance(task, tuple) and task else task)


def _is_broken(exc: BaseException) -> bool:
    """Whether ``exc`` is a lost connection or a broken collective (and not, say, a bad parameter)."""
    name = type(exc).__name__
    if name in ("CommClosedError", "StreamClosedError", "FutureCancelledError"):
        return True
    if name in ("XGBoostError", "LightGBMError", "RuntimeError", "ValueError", "OSError", "ConnectionError",
                "ConnectionResetError", "BrokenPipeError"):
        return bool(_BROKEN.search(str(exc)))
    return False


def run_guarded(step: str, client: Any, call: Callable[[], T], collective: bool = False) -> T:
    """``call()`` under a watch of the cluster: a distributed failure becomes a ClusterError, a hang one too.

    ``collective``: the step trains a booster; on a failure its leftover tasks are cancelled and workers stuck in
    the broken collective restarted, so that a retry finds them free.
    """
    if client is None or getattr(_LOCAL, "guarded", False):
        return call()
    watch = Watch(client, step)
    box: dict[str, Any] = {}
    runner = threading.Thread(target=_run, args=(call, box), daemon=True, name=f"kit {step}")
    runner.start()
    try:
        while runner.is_alive():
            runner.join(float(settings()["poll_seconds"]))
            if runner.is_alive():
                watch.check()
    except ClusterError as exc:
        exc.workers_before = watch.workers_before
        if collective:
            watch.abandon()
        raise
    if "error" not in box:
        return box["value"]
    error = watch.explain(box["error"])
    if error is None:
        raise box["error"]
    error.workers_before = watch.workers_before
    if collective:
        watch.abandon()
    raise error from None


def _run(call: Callable[[], Any], box: dict[str, Any]) -> None:
    """Run ``call`` in this (runner) thread, keeping its value or its error."""
    _LOCAL.guarded = True
    try:
        box["value"] = call()
    except BaseException as exc:  # handed to the watching thread, which raises it
        box["error"] = exc


def retry_training(step: str, client: Any, call: Callable[[], T]) -> tuple[T, str | None]:
    """``call()`` guarded; after a worker died under it, once more on the workers left. Returns the value and
    a note of the retry (None when the first attempt succeeded)."""
    retries = int(settings()["training_retries"])
    notes: list[str] = []
    while True:
        try:
            value = run_guarded(step, client, call, collective=True)
            return value, ("; ".join(notes) or None)
        except ClusterError as exc:
            if not exc.retryable or len(notes) >= retries:
                raise (_error(f"{exc}; this was the attempt after the first failed ({'; '.join(notes)})",
                              exc.died, False, exc.cause) if notes else exc) from None
            notes.append(f"retried after {'worker ' + ', '.join(exc.died) if exc.died else 'a worker'} died "
                         f"during {step} ({exc.cause})")
            _wait_for_a_worker(client, step, exc)


def _wait_for_a_worker(client: Any, step: str, exc: ClusterError) -> None:
    """Block until the cluster has a worker again (a ClusterError after ``stuck_after_seconds``), and give the
    workers a nanny restarts as long again to come back, so that the retry does not start while they join."""
    try:
        client.wait_for_workers(1, timeout=float(settings()["stuck_after_seconds"]))
    except (OSError, TimeoutError):
        raise _error(f"{exc} No worker came back to run {step} again.", exc.died, False, exc.cause) from None
    try:
        client.wait_for_workers(max(exc.workers_before, 1), timeout=float(settings()["stuck_after_seconds"]))
    except (OSError, TimeoutError):
        pass  # not all came back: train on the workers that are left


def _client_of(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """The ``client`` argument of a call to ``fn``."""
    bound = inspect.signature(fn).bind_partial(*args, **kwargs)
    return bound.arguments.get("client")


def guarded(step: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a Dask entry point with a ``client`` argument: run it under :func:`run_guarded`."""

    def wrap(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> T:
            return run_guarded(step, _client_of(fn, args, kwargs), lambda: fn(*args, **kwargs))

        return inner

    return wrap


def retried(step: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a training entry point (``client`` argument, returns a model with ``info``): retry as
    :func:`retry_training` does and record the retry in ``model.info["retried"]``."""

    def wrap(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> T:
            client = _client_of(fn, args, kwargs)
            if client is None:
                return fn(*args, **kwargs)
            model, note = retry_training(step, client, lambda: fn(*args, **kwargs))
            if note:
                model.info["retried"] = note
            return model

        return inner

    return wrap


def compute(client: Any, step: str, *collections: Any) -> tuple:
    """``dask.compute(*collections)`` on the cluster under a watch (dask's own in-process scheduler when None)."""
    import dask

    if client is None:
        return dask.compute(*collections, scheduler="sync")
    return tuple(run_guarded(step, client, lambda: client.gather(client.compute(list(collections)))))
