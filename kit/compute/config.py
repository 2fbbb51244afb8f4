"""Config section of the compute engine (validated when the run config loads)."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from kit.schema import Section


class ComputeSection(Section):
    """Where the heavy work runs: in this process (local, the default) or on a Dask cluster."""

    engine: Literal["local", "dask"] = Field(
        default="local",
        description="local: everything in one process, as always; dask: on a Dask cluster (the one at `address`, "
        "or a local cluster the kit starts and stops). --cluster ADDRESS or KIT_CLUSTER override this with dask at that address.",
    )
    address: str | None = Field(
        default=None,
        description="Scheduler address of an existing cluster (e.g. tcp://10.0.0.5:8786); "
        "without it, engine dask starts a local cluster for the run.",
    )
    n_workers: int = Field(default=2, ge=1, le=256, description="Workers of the local cluster the kit starts (no address).")
    threads_per_worker: int = Field(default=1, ge=1, le=64, description="Threads per worker of the local cluster.")
    memory_limit: str = Field(
        default="auto",
        description="Memory per worker of the local cluster: 'auto' (the machine's memory shared out) or a size such as '2GiB'.",
    )
    cell_timeout: int | None = Field(
        default=None, ge=0,
        description="Seconds one notebook cell may run before its phase fails and its kernel is stopped (0: no limit); "
        "unset: the kit's default (`cell_timeout_seconds` in kit/content/chain.yaml). --cell-timeout overrides it.",
    )

    @model_validator(mode="after")
    def _address_means_dask(self) -> "ComputeSection":
        """An address is only meaningful on the dask engine."""
        if self.address and self.engine != "dask":
            raise ValueError("address is set but engine is local: set engine: dask to use the cluster at that address, "
                             "or remove address")
        if self.memory_limit != "auto" and not _is_size(self.memory_limit):
            raise ValueError(f"memory_limit {self.memory_limit!r} is not a size; write e.g. '2GiB' or 'auto'")
        return self


SIZE = re.compile(r"\s*(\d+(\.\d+)?|\.\d+)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?\s*", re.IGNORECASE)
"""A size as dask reads it: a number and an optional unit (decimal kB/MB/GB/TB or binary KiB/MiB/GiB/TiB)."""


def _is_size(text: str) -> bool:
    """Whether ``text`` reads as a positive number of bytes ('2GiB', '500MB', '1e9' is not: write 1GB)."""
    match = SIZE.fullmatch(text)
    return bool(match) and float(match.group(1)) > 0
