"""The compute engine of a run: in-process (local) or a Dask cluster, found or started and stopped by the kit.

Precedence: ``--cluster ADDRESS`` (which sets ``KIT_CLUSTER``), then the ``KIT_CLUSTER`` environment variable,
then the config's ``compute:`` section. While a run holds a cluster it publishes the scheduler address in
``KIT_CLUSTER``, so the phase kernels the chain starts (they inherit the environment) use the same cluster.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from kit.compute.config import ComputeSection
from kit.errors import ConfigError

ENV = "KIT_CLUSTER"
CONNECT_TIMEOUT = "20s"
_ACTIVE: dict[str, Any] = {}  # the record of the engine this process holds open (for the manifest)


@dataclass
class EngineRecord:
    """What the manifest records about the engine of a run."""

    engine: str
    address: str | None = None
    dashboard: str | None = None
    started_by_kit: bool = False
    workers: int = 0
    threads: int = 0
    memory_per_worker: list[int] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)


def effective(section: ComputeSection) -> ComputeSection:
    """The compute settings after the KIT_CLUSTER override (an address there means dask at that address)."""
    address = os.environ.get(ENV, "").strip()
    if not address:
        return section
    return section.model_copy(update={"engine": "dask", "address": address})


def _connect(address: str) -> Any:
    """A client of the scheduler at ``address``; an unreachable one is a ConfigError naming it and the fix."""
    from distributed import Client

    try:
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(
            f"compute.address: no Dask scheduler answers at {address!r} ({' '.join(str(exc).split())[:160]}); "
            f"start the cluster or fix the address (from compute.address, --cluster or {ENV})") from None


def _start_local(section: ComputeSection) -> Any:
    """A LocalCluster of worker processes with the section's sizes (dashboard on a free port)."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=section.n_workers, threads_per_worker=section.threads_per_worker,
                        memory_limit=section.memory_limit, processes=True, dashboard_address=":0",
                        silence_logs=40)


VERSIONED = ("dask", "distributed", "xgboost", "lightgbm", "pandas", "numpy", "pyarrow")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages the workers compute with (run on each worker)."""
    from importlib import metadata

    out = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def describe(client: Any, started_by_kit: bool) -> EngineRecord:
    """The manifest record of the cluster behind ``client``: address, dashboard, workers, versions."""
    info = client.scheduler_info()
    workers = info.get("workers", {})
    on_workers = client.run(package_versions) if workers else {}
    versions = {k: "/".join(sorted({w.get(k, "?") for w in on_workers.values()})) for k in VERSIONED}
    return EngineRecord(
        engine="dask", address=client.scheduler.address, dashboard=client.dashboard_link,
        started_by_kit=started_by_kit, workers=len(workers),
        threads=sum(int(w.get("nthreads", 0)) for w in workers.values()),
        memory_per_worker=sorted(int(w.get("memory_limit") or 0) for w in workers.values()),
        versions=versions,
    )


@contextlib.contextmanager
def open_engine(section: ComputeSection) -> Iterator[EngineRecord]:
    """Hold the run's engine open: nothing for local, a client of the cluster for dask (started and stopped here
    when the kit owns it); the scheduler address is published in KIT_CLUSTER meanwhile."""
    section = effective(section)
    if section.engine == "local":
        yield _activate(EngineRecord(engine="local"))
        return
    cluster = None if section.address else _start_local(section)
    previous = os.environ.get(ENV)
    try:
        client = _connect(section.address or cluster.scheduler_address)
        try:
            os.environ[ENV] = client.scheduler.address
            yield _activate(describe(client, started_by_kit=cluster is not None))
        finally:
            client.close()
    finally:
        _ACTIVE.clear()
        _restore(previous)
        if cluster is not None:
            cluster.close()


@contextlib.contextmanager
def cluster_env(address: str) -> Iterator[None]:
    """Set KIT_CLUSTER to ``address`` for the duration of one command (``--cluster``), then put it back."""
    previous = os.environ.get(ENV)
    os.environ[ENV] = address
    try:
        yield
    finally:
        _restore(previous)


def _activate(record: EngineRecord) -> EngineRecord:
    """Remember ``record`` as this process's engine (read by the manifest)."""
    _ACTIVE.clear()
    _ACTIVE.update(asdict(record))
    return record


def _restore(previous: str | None) -> None:
    """Put KIT_CLUSTER back as it was before the run."""
    if previous is None:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = previous


def active_record() -> dict[str, Any]:
    """The engine record of the run this process holds (``{"engine": "local"}`` when none is open)."""
    return dict(_ACTIVE) or {"engine": "local"}


def client_for(section: ComputeSection) -> Any | None:
    """In a phase: a client of the run's cluster, or None on the local engine (a notebook run alone with engine
    dask and no address gets no cluster of its own: the chain or the user starts one)."""
    section = effective(section)
    if section.engine == "local":
        return None
    if not section.address:
        raise ConfigError("compute.engine is dask without an address, and no run holds a cluster: run the chain "
                          f"(python -m kit run), which starts one, or set compute.address / {ENV}")
    return _connect(section.address)


def dashboard_markdown(record: dict[str, Any]) -> str:
    """One line for a report: where the work ran, with the cluster's dashboard link while it runs."""
    if record.get("engine") != "dask":
        return "Engine: local (in-process)."
    from kit import escape

    link = record.get("dashboard") or ""
    return (f"Engine: Dask, {record.get('workers')} workers / {record.get('threads')} threads at "
            f"{escape.md_code(str(record.get('address')))}; dashboard (while the run lasts): <{escape.md(link)}>")


def engine_line(record: dict[str, Any]) -> str:
    """One plain-text line for the report's facts: local, or the Dask cluster with its workers and dashboard."""
    if record.get("engine") != "dask":
        return "local (in-process)"
    gib = [f"{m / 2**30:.1f} GiB" for m in record.get("memory_per_worker", [])[:1]]
    owner = "started and stopped by the kit" if record.get("started_by_kit") else "existing cluster"
    versions = ", ".join(f"{k} {v}" for k, v in sorted(record.get("versions", {}).items()))
    return (f"Dask ({owner}) at {record.get('address')}: {record.get('workers')} workers, {record.get('threads')} "
            f"threads{', ' + gib[0] + ' per worker' if gib else ''}; dashboard {record.get('dashboard')} "
            f"(while the run lasted); {versions}")
