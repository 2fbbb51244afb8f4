"""Run the phase notebooks in order with papermill into one reproducible report folder."""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kit.artifacts import write_json
from kit.config import RunConfig, load_config
from kit.errors import KitError
from kit.kernels import PhaseKernel
from kit.manifest import Manifest, PhaseRecord, new_manifest
from kit.phases import NOTEBOOK_DIR, PHASE_NAMES, PHASES, Phase

KERNEL_NAME = "kit"
Progress = Callable[[str], None]


class ChainError(KitError):
    """A run that could not start or did not finish."""


def _umask() -> int:
    """The process umask (read without changing it for long)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _now() -> str:
    """The current UTC time as an ISO string."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def select_phases(phases: str | list[str] | None, notebook_dir: Path | None = None) -> list[Phase]:
    """The phases to run, in chain order: all with a notebook, or the named subset."""
    notebook_dir = notebook_dir or NOTEBOOK_DIR
    available = [p for p in PHASES if (notebook_dir / p.notebook).is_file()]
    if phases is None:
        return available
    names = [n.strip() for n in (phases.split(",") if isinstance(phases, str) else phases) if n.strip()]
    from kit.errors import did_you_mean

    unknown = [n for n in names if n not in PHASE_NAMES]
    if unknown:
        hint = did_you_mean(unknown[0], PHASE_NAMES)
        raise ChainError(
            f"--phases: unknown phase {unknown[0]!r}{hint}; choose from {', '.join(PHASE_NAMES)}"
        )
    missing = [n for n in names if n not in {p.name for p in available}]
    if missing:
        raise ChainError(f"--phases: phase {missing[0]!r} has no notebook in {notebook_dir} yet")
    return [p for p in available if p.name in names]


def ensure_kernel(name: str = KERNEL_NAME) -> None:
    """Install the kit's Jupyter kernel into this environment when it is missing."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        install(kernel_name=name, display_name="Python (kit)", prefix=sys.prefix)


def default_out(config: RunConfig, root: Path | None = None) -> Path:
    """The default report folder: ``reports/<config name>`` under the working directory."""
    return (root or Path.cwd()) / "reports" / (config.name or "run")


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Send this process's stderr (inherited by the kernel) to a log file for a while."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _log_path(run_dir: Path, phase: Phase) -> Path:
    """Where a phase's kernel stderr and papermill's messages about it go."""
    return run_dir / "logs" / f"{phase.name}.log"


def _execute(phase: Phase, config: RunConfig, run_dir: Path, notebook_dir: Path,
             kernel: PhaseKernel | None = None) -> PhaseRecord:
    """Execute one phase notebook into ``run_dir`` (on ``kernel`` if one was started); never raises for a failing cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    record = PhaseRecord(name=phase.name, notebook=phase.notebook)
    if kernel and not kernel.alive():  # died while waiting: let papermill start a fresh one
        kernel = None
    start = time.perf_counter()
    try:
        # the kernel's stderr, and papermill's own messages (such as "kernel died"), go to the phase log
        with _stderr_to(_log_path(run_dir, phase)):
            papermill.execute_notebook(
                str(notebook_dir / phase.notebook),
                str(run_dir / phase.notebook),
                parameters={
                    "config_path": str(config.source_path),
                    "run_dir": str(run_dir),
                    "interactive": False,
                },
                kernel_name=KERNEL_NAME,
                language="python",
                cwd=str(notebook_dir),
                progress_bar=False,
                log_output=False,
                request_save_on_cell_execute=False,  # one write at the end: ~10 ms less per cell
                **({"km": kernel.manager} if kernel else {}),
            )
        record.status = "ok"
    except PapermillExecutionError as exc:
        record.status = "failed"
        record.error = f"{exc.ename}: {exc.evalue}".strip().splitlines()[-1] if exc.evalue else exc.ename
    except Exception as exc:  # kernel died, notebook unreadable: still a failed phase, not a crash
        record.status = "failed"
        record.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        if kernel:
            kernel.release()
    record.seconds = round(time.perf_counter() - start, 2)
    return record


def _start_kernel(phase: Phase, run_dir: Path, notebook_dir: Path) -> PhaseKernel | None:
    """Start the kernel for ``phase`` now; None if that fails (papermill then tries itself and reports why)."""
    try:
        return PhaseKernel(KERNEL_NAME, cwd=notebook_dir, log=_log_path(run_dir, phase))
    except Exception:
        return None


def _close(kernels: list[PhaseKernel | None]) -> None:
    """Shut down every kernel the chain started; a kernel leaves the list only once closed."""
    while kernels:
        if kernels[-1]:
            kernels[-1].close()
        kernels.pop()


@functools.cache
def _html_exporter(no_input: bool) -> Any:
    """One HTML exporter per setting, reused: building one compiles its templates (~0.2-0.5 s)."""
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", exclude_input=no_input, exclude_input_prompt=no_input,
                        exclude_output_prompt=True)


def export_html(notebook: Path, no_input: bool = False) -> Path:
    """Export an executed notebook to a self-contained HTML file beside it."""
    import nbformat

    body, _ = _html_exporter(no_input).from_notebook_node(nbformat.read(notebook, as_version=4))
    out = notebook.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out


def _place(tmp: Path, out: Path, failed: bool, force: bool) -> Path:
    """Move a finished run into place without ever losing a good earlier report."""
    if failed and out.exists():
        target = out.with_name(out.name + ".failed")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        return target
    if out.exists():
        if not force:
            raise ChainError(f"{out}: a report is already there; pass --force to replace it")
        backup = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(out, backup)
        os.replace(tmp, out)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(tmp, out)
    return out


def _skip_iri_grammars() -> None:
    """Keep jsonschema from importing rfc3987_syntax in this process (unless something already has).

    jsonschema, under papermill and nbconvert, imports it when installed (JupyterLab's dependencies
    install it) only to check "iri" string formats, and the import builds ~40 lark grammars: 1-1.5 s
    per process (python-jsonschema/jsonschema#1392). Notebook schemas use no such format.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def run_chain(
    config_path: str | Path,
    out: str | Path | None = None,
    phases: str | list[str] | None = None,
    force: bool = False,
    no_input: bool = False,
    progress: Progress | None = print,
    notebook_dir: Path | None = None,
) -> tuple[Manifest, Path]:
    """Run the chain for one config; return the manifest and where the report landed."""
    notebook_dir = notebook_dir or NOTEBOOK_DIR
    _skip_iri_grammars()
    from kit.report import write_index

    say = progress or (lambda _msg: None)
    config = load_config(config_path)
    selected = select_phases(phases, notebook_dir)
    if not selected:
        raise ChainError(f"{notebook_dir}: no phase notebooks found")
    out = Path(out).expanduser().resolve() if out else default_out(config).resolve()
    if out.exists() and not force:
        raise ChainError(f"{out}: a report is already there; pass --force to replace it, or --out another folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    ensure_kernel()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o777 & ~_umask())
    options = {"phases": [p.name for p in selected], "no_input": no_input, "out": str(out)}
    kernels: list[PhaseKernel | None] = []
    try:
        kernels.append(_start_kernel(selected[0], tmp, notebook_dir))  # boots while the manifest is built
        manifest = new_manifest(config, [p.name for p in selected], _now(), options)
        begin = time.perf_counter()
        for i, phase in enumerate(selected):
            if i + 1 < len(selected):  # the next phase's kernel boots on the other core meanwhile
                kernels.append(_start_kernel(selected[i + 1], tmp, notebook_dir))
            record = _execute(phase, config, tmp, notebook_dir, kernels[i])
            manifest.phases[i] = record
            if (tmp / phase.notebook).is_file():
                record.html = export_html(tmp / phase.notebook, no_input).name
            say(f"[{i + 1}/{len(selected)}] {phase.name:<15} {record.status:<6} {record.seconds:6.1f} s"
                + (f"  {record.error}" if record.error else ""))
            if record.status == "failed":
                for later in manifest.phases[i + 1:]:
                    later.status = "skipped"
                break
        _close(kernels)
        manifest.status = "failed" if manifest.failed_phase() else "ok"
        manifest.finished = _now()
        manifest.seconds = round(time.perf_counter() - begin, 2)
        write_json(tmp / "manifest.json", manifest)
        write_index(tmp, manifest)
        landed = _place(tmp, out, manifest.status == "failed", force)
    except BaseException:
        _close(kernels)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest, landed
