"""Phase kernels started ahead of their phase, so one boots while the phase before it runs."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from traitlets import List


class _KernelManager(AsyncKernelManager):
    """A kernel manager that remembers the clients opened on it, so they can be closed after use."""

    opened_clients = List()

    def client(self, **kwargs: Any) -> Any:
        """A new client, recorded (papermill opens one and leaves it open on a kernel it did not start)."""
        kc = super().client(**kwargs)
        self.opened_clients.append(kc)
        return kc


class PhaseKernel:
    """One kernel for one phase: started at once, handed to papermill, shut down gracefully.

    Its stderr (ipykernel's start-up warnings, library chatter) goes to ``log``, not the terminal.
    """

    def __init__(self, kernel_name: str, cwd: Path, log: Path, runtime_dir: Path | None = None) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = log.open("ab")
        self.manager = _KernelManager(kernel_name=kernel_name)
        if runtime_dir is not None:  # connection file there (a run's build folder), not in Jupyter's runtime dir
            runtime_dir.mkdir(parents=True, exist_ok=True)
            self.manager.connection_file = str(runtime_dir / f"kernel-{uuid.uuid4()}.json")
        self._released = self._closed = False
        try:
            run_sync(self.manager.start_kernel)(cwd=str(cwd), stderr=self._log)
        except BaseException:  # Ctrl-C included: a kernel launched before the interruption must not outlive it
            self._kill()
            raise

    def alive(self) -> bool:
        """Whether the kernel process is still running."""
        return bool(run_sync(self.manager.is_alive)())

    def release(self) -> None:
        """Close the clients and ask the kernel to exit, without waiting for it to finish."""
        if self._released:
            return
        self._stop_clients()
        if self.alive():
            run_sync(self.manager.request_shutdown)()

    def kill(self) -> None:
        """Stop the kernel at once (a cell ran over its timeout: a hung kernel would not answer a shutdown request)."""
        if self._closed:
            return
        self._stop_clients()
        self._kill()

    def _stop_clients(self) -> None:
        """Mark the kernel released and close its clients' channels."""
        self._released = True
        for kc in self.manager.opened_clients:
            kc.stop_channels()

    def close(self) -> None:
        """Wait for the kernel to exit (killed after a grace period, or at once if interrupted) and free its resources."""
        if self._closed:
            return
        try:
            self.release()
            run_sync(self.manager.finish_shutdown)()
        finally:
            self._kill()

    def _kill(self) -> None:
        """Kill the process if it still runs, then remove its connection file, sockets and log handle."""
        try:
            if self.manager.has_kernel and self.alive():
                run_sync(self.manager.shutdown_kernel)(now=True)  # kills, then cleans up
            else:
                run_sync(self.manager.cleanup_resources)()
        finally:
            self._closed = True
            self._log.close()
