"""Run the phase notebooks in order with papermill into one reproducible report folder."""
from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import functools
import glob
import os
import re
import shutil
import signal
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
from kit.manifest import Manifest, PhaseRecord, is_kit_report, new_manifest
from kit.phases import NOTEBOOK_DIR, PHASE_NAMES, PHASES, Phase

KERNEL_NAME = "kit"
Progress = Callable[[str], None]


class ChainError(KitError):
    """A run that could not start or did not finish."""

    exit_code = 2


class DestinationError(ChainError):
    """The report folder is busy (another run writes it), already there, or not a kit report."""

    exit_code = 3


class RunFault(ChainError):
    """The machine failed the run (disk full, store unwritable); nothing was left half-written."""

    exit_code = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interruption so a run cleans up as it does on Ctrl-C."""


KERNEL_FILES = ".kernels"  # connection files of the run's kernels: inside the build folder, so cleaned with it
OWNER_FILE = ".kit-owner"  # inside a temporary build folder: locked by the live run that builds it
STALE_AFTER = 600.0  # seconds: a build folder without an owner file (older kits) is stale after this
_NOISE = re.compile(r"^(\(Background on this error at:.*\)|https?://\S+|\[SQL: .*|\[parameters: .*)$")
_ENOSPC = re.compile(r"\[Errno 28\] No space left on device(?:: '?([^']*)'?)?")


def failure_reason(ename: str, evalue: str | None) -> str:
    """One meaningful line for an error: "Type: first message line", or the disk-full cause."""
    evalue = evalue or ""
    full = _ENOSPC.search(evalue)
    if full:
        return f"no space left on device: {full.group(1) or '?'}"
    lines = [line.strip() for line in evalue.splitlines()]
    first = next((line for line in lines if line and not _NOISE.match(line)), "")
    return f"{ename}: {first}" if first else ename


def _enospc(exc: BaseException | None) -> OSError | None:
    """The disk-full OSError behind ``exc`` (itself, its cause or context), if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def exception_reason(exc: BaseException) -> str:
    """The one-line reason for an exception (see :func:`failure_reason`)."""
    full = _enospc(exc)
    if full is not None:
        return f"no space left on device: {full.filename or '?'}"
    return failure_reason(type(exc).__name__, str(exc))


def on_sigterm() -> None:
    """From now on, SIGTERM interrupts like Ctrl-C (temporary folders and kernels are cleaned up)."""

    def interrupt(signum: int, frame: Any) -> None:
        """Raise the interruption in the main thread."""
        raise Terminated(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


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

    if not names:
        raise ChainError(f"--phases: no phase named (found {phases!r}); name one or more of {', '.join(PHASE_NAMES)}, "
                         "or leave --phases out to run them all")
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


def resolve_cell_timeout(config: RunConfig, override: int | None = None) -> int | None:
    """Seconds a cell may run (None: no limit): ``--cell-timeout``, else compute.cell_timeout, else the kit's."""
    from kit.content import load

    seconds = override if override is not None else config.compute.cell_timeout
    if seconds is None:
        seconds = load("chain")["cell_timeout_seconds"]
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise ChainError(f"--cell-timeout: expected whole seconds, 0 for no limit; found {seconds!r}")
    return seconds or None


TIMEOUT_FIX = "raise it with --cell-timeout SECONDS (0: no limit) or compute.cell_timeout in the config"
TIMEOUT_ENAME, TIMEOUT_VALUE = "CellTimeoutError", "this cell ran over the "  # the error the chain puts in the cell
_TIMED_OUT = "Cell execution timed out"  # nbclient's message when no execute reply came within the timeout


def _timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` is nbclient's cell timeout (not its wait for a finished cell's last output)."""
    from nbclient.exceptions import CellTimeoutError

    return isinstance(exc, CellTimeoutError) and _TIMED_OUT in str(exc)


def timeout_reason(phase: Phase, error: Any, seconds: int | None) -> str:
    """The one line for a phase whose cell ran over the timeout: phase, cell, limit and the fix."""
    number = error.exec_count if error.exec_count is not None else error.cell_index + 1
    first = next((line.strip() for line in (error.source or "").splitlines() if line.strip()), "")
    code = f" (`{first[:40]}{'…' if len(first) > 40 else ''}`)" if first else ""
    return (f"phase {phase.index} ({phase.name}): cell {number}{code} ran over the {seconds} s cell timeout and "
            f"its kernel was stopped; {TIMEOUT_FIX}")


def _execute(phase: Phase, config: RunConfig, run_dir: Path, notebook_dir: Path,
             kernel: PhaseKernel | None = None, final_dir: Path | None = None,
             timeout: int | None = None) -> PhaseRecord:
    """Execute one phase notebook into ``run_dir`` (on ``kernel`` if one was started); never raises for a failing cell.

    The notebook records ``final_dir`` (where the report lands) as its ``run_dir``, and is kept,
    failure shown, when its kernel dies mid-phase or a cell runs over ``timeout`` seconds (its
    kernel is then killed at once: a hung kernel would not answer a shutdown request).
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    record = PhaseRecord(name=phase.name, notebook=phase.notebook)
    if kernel and not kernel.alive():  # died while waiting: let papermill start a fresh one
        kernel = None
    start = time.perf_counter()
    timed_out = False
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
                execution_timeout=timeout,
                engine_name=_engine(),
                kit_output=str(run_dir / phase.notebook),  # written by the engine if the kernel dies
                kit_rename=(str(run_dir), str(final_dir or run_dir)),
                **({"km": kernel.manager} if kernel else {}),
            )
        record.status = "ok"
    except PapermillExecutionError as exc:
        record.status = "failed"
        timed_out = exc.ename == TIMEOUT_ENAME and str(exc.evalue).startswith(TIMEOUT_VALUE)
        record.error = timeout_reason(phase, exc, timeout) if timed_out else failure_reason(exc.ename, exc.evalue)
    except Exception as exc:  # kernel could not start, notebook unreadable: still a failed phase, not a crash
        if _enospc(exc) is not None:
            raise
        record.status = "failed"
        record.error = exception_reason(exc)
    finally:
        if kernel and timed_out:
            kernel.kill()
        elif kernel:
            kernel.release()
    record.seconds = round(time.perf_counter() - start, 2)
    return record


ENGINE_NAME = "kit"


@functools.cache
def _engine() -> str:
    """Register (once) papermill's nbclient engine, plus two duties of the chain; return its name.

    papermill writes the notebook only at the end when ``request_save_on_cell_execute`` is off,
    and not at all when the kernel dies mid-cell (``DeadKernelError`` escapes the engine).
    """
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.execute import raise_for_execution_errors

    class KitEngine(NBClientEngine):
        """nbclient execution that keeps a notebook whose kernel died or cell timed out; records the final folder."""

        @classmethod
        def execute_notebook(cls, nb: Any, kernel_name: str, kit_output: str | None = None,
                             kit_rename: tuple[str, str] | None = None, **kwargs: Any) -> Any:
            """Execute ``nb``; on a dead kernel or cell timeout, mark the cell, write ``kit_output``, raise."""
            try:
                return super().execute_notebook(nb, kernel_name, **kwargs)
            except Exception as exc:
                if kit_output is None or _enospc(exc) is not None:
                    raise
                _mark_dead_cell(nb, exc, kwargs.get("execution_timeout"))
                _rename_run_dir(nb, kit_rename)
                raise_for_execution_errors(nb, kit_output)  # writes the notebook, raises PapermillExecutionError
                raise
            finally:
                _rename_run_dir(nb, kit_rename)

    papermill_engines.register(ENGINE_NAME, KitEngine)
    return ENGINE_NAME


def _mark_dead_cell(nb: Any, exc: Exception, timeout: int | None = None) -> None:
    """Put the error that stopped execution (a dead kernel, a cell timeout) into the cell that was running."""
    import nbformat

    def started(cell: Any) -> bool:
        return bool(cell.get("metadata", {}).get("papermill", {}).get("start_time"))

    code = [c for c in nb.cells if c.cell_type == "code"]
    running = next((c for c in reversed(code) if started(c)), None)  # papermill marks every cell completed at the end
    cell = running or (code[0] if code else None)
    if cell is None:
        return
    if _timed_out(exc):
        ename, message = TIMEOUT_ENAME, f"{TIMEOUT_VALUE}{timeout} s cell timeout"
        where = f"Its kernel was stopped and later cells did not run; {TIMEOUT_FIX}."
    else:
        ename, message = type(exc).__name__, (str(exc).strip().splitlines() or [""])[0]
        where = ("The kernel stopped during this cell (out of memory, killed, or crashed)" if running
                 else "Execution stopped before this cell ran")
        where += "; the run's logs/ folder may say why. Later cells did not run."
    outputs = cell.setdefault("outputs", [])
    first_error = next((i for i, o in enumerate(outputs) if o.get("output_type") == "error"), len(outputs))
    # before an error the stop itself caused (a kernel papermill started is interrupted on shutdown: KeyboardInterrupt)
    outputs.insert(first_error, nbformat.v4.new_output(
        "error", ename=ename, evalue=message, traceback=[f"{ename}: {message}", where]))
    for later in code[code.index(cell) + 1:]:  # not run: pending, as papermill leaves the cells after a failure
        later.metadata.setdefault("papermill", {})["status"] = "pending"
    cell.metadata.setdefault("papermill", {})["status"] = "failed"
    cell.metadata.papermill["exception"] = True


_TEXT_MIME = ("text/plain", "text/html", "text/markdown")


def _rename_run_dir(nb: Any, rename: tuple[str, str] | None) -> None:
    """Show the folder the report lands in, not the temporary build folder: injected parameters and text outputs."""
    if not rename or rename[0] == rename[1]:
        return
    old, new = rename

    def swap(value: Any) -> Any:
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value.replace(old, new) if isinstance(value, str) else value

    for cell in nb.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = swap(cell.source)
        for output in cell.get("outputs", []):
            for key in ("text", "evalue", "traceback"):
                if key in output:
                    output[key] = swap(output[key])
            for mime in _TEXT_MIME:
                if mime in output.get("data", {}):
                    output["data"][mime] = swap(output["data"][mime])


def _start_kernel(phase: Phase, run_dir: Path, notebook_dir: Path) -> PhaseKernel | None:
    """Start the kernel for ``phase`` now; None if that fails (papermill then tries itself and reports why)."""
    try:
        return PhaseKernel(KERNEL_NAME, cwd=notebook_dir, log=_log_path(run_dir, phase),
                           runtime_dir=run_dir / KERNEL_FILES)
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


def _beside(out: Path, suffix: str) -> Path:
    """``<out><suffix>`` when free or an earlier kit report, else a fresh ``<out><suffix>-<hex>``."""
    target = out.with_name(out.name + suffix)
    if not target.exists() or is_kit_report(target):
        return target
    return out.with_name(f"{out.name}{suffix}-{uuid.uuid4().hex[:8]}")


def _replaceable(out: Path) -> bool:
    """Whether ``out`` may receive a report: absent, an empty folder, or a kit report."""
    if not out.exists():
        return True
    if not out.is_dir():
        return False
    return not any(out.iterdir()) or is_kit_report(out)


def _check_destination(out: Path, force: bool) -> None:
    """Refuse a destination that is not a kit report, or a report that --force does not allow to replace."""
    if not _replaceable(out):
        raise DestinationError(
            f"{out}: exists and is not a kit report (no kit manifest.json); the kit replaces only its own "
            "reports, so pass --out a new or empty folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise DestinationError(f"{out}: a report is already there; pass --force to replace it, or --out another folder")


def _check_inputs_outside(config: RunConfig, out: Path) -> None:
    """Refuse a destination that holds the run's own config or data (replacing the report would delete them)."""
    inputs = [p for p in (config.source_path, *config.data_files()) if p is not None]
    inside = [p for p in inputs if Path(p).resolve().is_relative_to(out)]
    if inside:
        raise DestinationError(f"{out}: holds this run's own input {inside[0]}, which replacing the report would "
                               "delete; keep configs and data outside report folders, or pass --out another folder")


def _place(tmp: Path, out: Path, failed: bool, force: bool) -> Path:
    """Move a finished run into place (the destination lock held) without ever losing a good earlier report."""
    if failed and out.exists() and any(out.iterdir()):
        target = _beside(out, ".failed")
        _relabel(tmp, out, target)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        return target
    if out.exists() and any(out.iterdir()):
        if not force or not is_kit_report(out):  # appeared during the run, not through the kit's lock
            target = _beside(out, ".new")
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
            raise DestinationError(f"{out}: something else wrote there during the run; this run's report "
                                   f"was kept in {target}")
        backup = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(out, backup)
        os.replace(tmp, out)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(tmp, out)  # onto an empty folder too
    return out


def _relabel(folder: Path, old: Path, new: Path) -> None:
    """In a run's notebooks and HTML reports, name ``new`` instead of ``old`` (the folder they were run for)."""
    pattern = re.compile(re.escape(str(old)) + r"(?=[/\\\"'<\s]|$)")
    for path in [*folder.glob("*.ipynb"), *folder.glob("*.html")]:
        text = path.read_text(encoding="utf-8")
        relabelled = pattern.sub(lambda _match: str(new), text)
        if relabelled != text:
            path.write_text(relabelled, encoding="utf-8")


@contextlib.contextmanager
def destination_lock(out: Path, what: str = "run") -> Iterator[None]:
    """Hold an exclusive lock on ``out`` (a lock file beside it) or raise DestinationError if a ``what`` (a run,
    a batch) holds it."""
    path = out.with_name(f".{out.name}.lock")
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        except OSError as exc:
            raise unwritable_destination(out, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DestinationError(f"{out}: busy, another kit {what} (pid {owner}) is writing this "
                                   f"{'report' if what == 'run' else what}; wait for it to finish, or pass --out "
                                   "another folder") from None
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:  # not unlinked by a run that just finished
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # while still locked: a waiting run then re-creates it
        os.close(fd)


def _lock_owner(tmp: Path) -> int:
    """Mark ``tmp`` as owned by this live run: a lock the kernel frees when the process dies (kill -9 too)."""
    fd = os.open(tmp / OWNER_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _is_stale(folder: Path) -> bool:
    """Whether no live run owns a temporary build folder (its owner lock is free, or it is old and unowned)."""
    try:
        fd = os.open(folder / OWNER_FILE, os.O_RDONLY)
    except FileNotFoundError:
        try:
            return time.time() - folder.stat().st_mtime > STALE_AFTER
        except FileNotFoundError:
            return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def clean_stale(out: Path) -> list[Path]:
    """Remove the temporary build folders of ``out`` left by runs that were killed; return them."""
    stale = [p for p in out.parent.glob(f".{glob.escape(out.name)}.tmp-*") if p.is_dir() and _is_stale(p)]
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return stale


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
    cell_timeout: int | None = None,
) -> tuple[Manifest, Path]:
    """Run the chain for one config; return the manifest and where the report landed.

    ``cell_timeout`` (``--cell-timeout``; 0: no limit) overrides the config's and the kit's per-cell timeout.
    """
    notebook_dir = notebook_dir or NOTEBOOK_DIR
    _skip_iri_grammars()
    from kit.report import write_index

    say = progress or (lambda _msg: None)
    config = load_config(config_path)
    timeout = resolve_cell_timeout(config, cell_timeout)
    selected = select_phases(phases, notebook_dir)
    if not selected:
        raise ChainError(f"{notebook_dir}: no phase notebooks found")
    out = Path(out).expanduser().resolve() if out else default_out(config).resolve()
    _check_destination(out, force)  # early, before the kernel boots; checked again under the lock
    _check_inputs_outside(config, out)
    try:
        _make_parent(out)
        with destination_lock(out):
            _check_destination(out, force)
            clean_stale(out)
            ensure_kernel()
            from kit.compute.engine import engine_line, open_engine

            with open_engine(config.compute) as engine:
                if engine.engine == "dask":
                    say(f"engine: {engine_line(vars(engine))}")
                return _build(config, selected, out, force, no_input, say, notebook_dir, write_index, timeout)
    except OSError as exc:
        full = _enospc(exc)
        if full is None:
            raise
        raise RunFault(f"no space left on device: {full.filename or out.parent}; free some space and run "
                       "again (nothing was written)") from exc


def _make_parent(out: Path) -> None:
    """Create the folder the report goes into; one that cannot be created is a destination problem."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(out.parent, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "Permission denied", str(out.parent))
    except OSError as exc:
        raise unwritable_destination(out, exc) from None


def unwritable_destination(out: Path, exc: OSError) -> OSError | DestinationError:
    """The destination error for a folder the report cannot be written into (a full disk stays itself)."""
    if _enospc(exc) is not None:
        return exc
    return DestinationError(f"{out}: cannot write the report there ({exc.strerror or exc}: "
                            f"{exc.filename or out.parent}); pass --out a folder you can write to")


def _build(config: RunConfig, selected: list[Phase], out: Path, force: bool, no_input: bool, say: Progress,
           notebook_dir: Path, write_index: Callable[[Path, Manifest], Path],
           timeout: int | None = None) -> tuple[Manifest, Path]:
    """Build the report in a temporary folder beside ``out`` and move it into place."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        owner = _lock_owner(tmp)
        tmp.chmod(0o777 & ~_umask())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    options = {"phases": [p.name for p in selected], "no_input": no_input, "out": str(out), "cell_timeout": timeout}
    kernels: list[PhaseKernel | None] = []
    try:
        kernels.append(_start_kernel(selected[0], tmp, notebook_dir))  # boots while the manifest is built
        manifest = new_manifest(config, [p.name for p in selected], _now(), options)
        begin = time.perf_counter()
        for i, phase in enumerate(selected):
            if i + 1 < len(selected):  # the next phase's kernel boots on the other core meanwhile
                kernels.append(_start_kernel(selected[i + 1], tmp, notebook_dir))
            record = _execute(phase, config, tmp, notebook_dir, kernels[i], final_dir=out, timeout=timeout)
            manifest.phases[i] = record
            if (tmp / phase.notebook).is_file():
                record.html = _export(tmp / phase.notebook, no_input, record)
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
        _score(tmp, manifest, config, say)
        write_json(tmp / "manifest.json", manifest)
        write_index(tmp, manifest)
        shutil.rmtree(tmp / KERNEL_FILES, ignore_errors=True)
        (tmp / OWNER_FILE).unlink()
        landed = _place(tmp, out, manifest.status == "failed", force)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            _quiet_abandoned_cells()
        _close(kernels)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(owner)
    return manifest, landed


def _score(run_dir: Path, manifest: Manifest, config: RunConfig, say: Progress) -> None:
    """Write the run's ML Test Score (ml_test_score.json); a scoring fault is reported, never fails the run."""
    from kit.artifacts import to_jsonable
    from kit.ml_test_score import write_score

    try:
        write_score(run_dir, to_jsonable(manifest), config)
    except Exception as exc:
        if _enospc(exc) is not None:
            raise
        say(f"ML Test Score not written: {exception_reason(exc)}")


def _quiet_abandoned_cells() -> None:
    """After an interruption, keep asyncio and papermill from reporting the cell left running (its kernel is shut down):
    asyncio's "Task exception was never retrieved" traceback, nbclient's "Kernel died while waiting for execute reply"."""
    import logging

    for name in ("asyncio", "papermill"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _export(notebook: Path, no_input: bool, record: PhaseRecord) -> str | None:
    """Export a phase's executed notebook to HTML; an unreadable notebook fails the phase instead of the run."""
    try:
        return export_html(notebook, no_input).name
    except Exception as exc:
        if _enospc(exc) is not None:
            raise
        record.status = "failed"
        record.error = record.error or f"notebook could not be exported: {exception_reason(exc)}"
        return None
