"""Kernels started ahead of their phase: used by papermill, logged, and always shut down."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import psutil
import pytest

import kit.chain as chain
from kit.kernels import PhaseKernel, _KernelManager
from tests.test_chain_mechanics import make_config, make_notebooks

ROOT = Path(__file__).resolve().parent.parent


def _notebook(path: Path, source: str) -> Path:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), path)
    return path


def test_papermill_runs_on_the_started_kernel_in_its_folder_with_stderr_in_the_log(tmp_path: Path) -> None:
    (tmp_path / "here").mkdir()
    log = tmp_path / "logs" / "phase.log"
    kernel = PhaseKernel(chain.KERNEL_NAME, cwd=tmp_path / "here", log=log)
    connection_file = Path(kernel.manager.connection_file)
    try:
        source = _notebook(tmp_path / "in.ipynb", "import os\nos.write(2, b'marker-on-fd-2\\n')\nprint(os.getcwd())")
        papermill.execute_notebook(str(source), str(tmp_path / "out.ipynb"), kernel_name=chain.KERNEL_NAME,
                                   language="python", progress_bar=False, km=kernel.manager)
        outputs = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs
        assert any(o.get("text", "").strip() == str(tmp_path / "here") for o in outputs)
        assert len(kernel.manager.opened_clients) == 1  # papermill's client, which release() closes
    finally:
        kernel.close()
    assert not kernel.alive()
    assert not connection_file.exists()
    assert "marker-on-fd-2" in log.read_text()


def _children() -> set[int]:
    """Process ids of this process's children, zombies included."""
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_release_twice_and_close_twice_are_safe(tmp_path: Path) -> None:
    before = _children()
    kernel = PhaseKernel(chain.KERNEL_NAME, cwd=tmp_path, log=tmp_path / "k.log")
    kernel.release()
    kernel.release()
    kernel.close()
    kernel.close()
    assert not kernel.alive() and _children() == before


def test_interrupted_close_still_kills_the_kernel_and_frees_its_files(tmp_path: Path, monkeypatch) -> None:
    before = _children()
    kernel = PhaseKernel(chain.KERNEL_NAME, cwd=tmp_path, log=tmp_path / "k.log")
    connection_file = Path(kernel.manager.connection_file)

    async def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # a second Ctrl-C while waiting for the kernel to exit

    monkeypatch.setattr(kernel.manager, "finish_shutdown", interrupted)
    with pytest.raises(KeyboardInterrupt):
        kernel.close()
    assert _children() == before  # killed and reaped, not left running or as a zombie
    assert not connection_file.exists() and kernel._log.closed


def test_interrupted_start_leaves_no_kernel_behind(tmp_path: Path, monkeypatch) -> None:
    before = _children()

    async def interrupted(self, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C after the process was launched, before start_kernel returned

    monkeypatch.setattr(_KernelManager, "_async_post_start_kernel", interrupted)
    with pytest.raises(KeyboardInterrupt):
        PhaseKernel(chain.KERNEL_NAME, cwd=tmp_path, log=tmp_path / "k.log")
    assert _children() == before


@pytest.fixture()
def started(monkeypatch: pytest.MonkeyPatch) -> list[PhaseKernel]:
    """Every PhaseKernel the chain starts, to check afterwards."""
    kernels: list[PhaseKernel] = []

    class Recording(PhaseKernel):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            kernels.append(self)

    monkeypatch.setattr(chain, "PhaseKernel", Recording)
    return kernels


def _open_files() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))


def test_chain_shuts_down_every_kernel_it_started(tmp_path: Path, started: list[PhaseKernel]) -> None:
    notebooks = make_notebooks(tmp_path / "notebooks")
    config = make_config(tmp_path)
    chain.run_chain(config, out=tmp_path / "warm-up", notebook_dir=notebooks, progress=None)  # lazy imports open files once
    children, files = _children(), _open_files()
    manifest, _ = chain.run_chain(config, out=tmp_path / "r", notebook_dir=notebooks, progress=None)
    assert manifest.status == "ok"
    assert len(started) == 4
    assert _children() == children and _open_files() == files
    assert not any(k.alive() or Path(k.manager.connection_file).exists() for k in started)


def test_kernel_started_for_a_phase_that_is_skipped_is_shut_down(tmp_path: Path, started: list[PhaseKernel]) -> None:
    notebooks = make_notebooks(tmp_path / "notebooks")
    (notebooks / "00_readiness.ipynb").write_text(
        (notebooks / "00_readiness.ipynb").read_text().replace("ctx.write(", "1 / 0; ctx.write("))
    manifest, _ = chain.run_chain(make_config(tmp_path), out=tmp_path / "r", notebook_dir=notebooks, progress=None)
    assert [p.status for p in manifest.phases] == ["failed", "skipped"]
    assert len(started) == 2  # the second booted while the first ran, then was never used
    assert not any(k.alive() for k in started)


def test_a_kernel_that_died_while_waiting_is_replaced(tmp_path: Path, started: list[PhaseKernel], monkeypatch) -> None:
    notebooks = make_notebooks(tmp_path / "notebooks")
    execute = chain._execute

    def kill_the_next_kernel_first(phase, config, run_dir, notebook_dir, kernel=None, final_dir=None, **options):
        if phase.name == "use_cases":
            kernel.manager.provisioner.process.kill()
            kernel.manager.provisioner.process.wait()
        return execute(phase, config, run_dir, notebook_dir, kernel, final_dir, **options)

    monkeypatch.setattr(chain, "_execute", kill_the_next_kernel_first)
    manifest, _ = chain.run_chain(make_config(tmp_path), out=tmp_path / "r", notebook_dir=notebooks, progress=None)
    assert [p.status for p in manifest.phases] == ["ok", "ok"]


def test_a_kernel_that_cannot_start_is_a_failed_phase_not_a_crash(tmp_path: Path, monkeypatch) -> None:
    notebooks = make_notebooks(tmp_path / "notebooks")
    monkeypatch.setattr(chain, "ensure_kernel", lambda name=None: None)
    monkeypatch.setattr(chain, "KERNEL_NAME", "no-such-kernel-xyz")
    manifest, landed = chain.run_chain(make_config(tmp_path), out=tmp_path / "r", notebook_dir=notebooks,
                                       progress=None)
    assert manifest.status == "failed" and manifest.phases[0].status == "failed"
    assert "no-such-kernel-xyz" in manifest.phases[0].error
    assert (landed / "manifest.json").is_file()


def test_batch_workers_skip_the_slow_iri_grammar_import(tmp_path: Path) -> None:
    demo = ROOT / "data" / "configs" / "demo.yaml"
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "kit", "batch", str(demo), "--phases", "readiness",
                           "--workers", "1", "--out", str(tmp_path / "b")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert {"kit.chain", "papermill", "jsonschema"} <= imported  # the worker's imports are in the record
    assert "lark" not in imported  # rfc3987_syntax, which would build its grammars with lark, was skipped


def test_papermill_messages_about_a_dying_kernel_go_to_the_phase_log(tmp_path: Path) -> None:
    notebooks = make_notebooks(tmp_path / "notebooks")
    path = notebooks / "00_readiness.ipynb"
    path.write_text(path.read_text().replace("ctx.write(", "import os; os._exit(3); ctx.write("))
    config = make_config(tmp_path)
    code = ("import sys\nfrom pathlib import Path\nfrom kit.chain import run_chain\n"
            "manifest, _ = run_chain(sys.argv[1], out=sys.argv[2], notebook_dir=Path(sys.argv[3]), progress=None)\n"
            "assert manifest.phases[0].status == 'failed', manifest.phases[0]\n")
    # a separate process: pytest's log capture would otherwise take papermill's logging before stderr does
    done = subprocess.run([sys.executable, "-c", code, str(config), str(tmp_path / "r"), str(notebooks)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Kernel died" in (tmp_path / "r" / "logs" / "readiness.log").read_text()
    assert "Kernel died" not in done.stderr
