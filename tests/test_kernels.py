"""Kernels started ahead of their phase: used by papermill, logged, and always shut down."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
from jupyter_core.utils import run_sync

import kit.chain as chain
from kit.kernels import PhaseKernel
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
    assert not run_sync(kernel.manager.is_alive)()
    assert not connection_file.exists()
    assert "marker-on-fd-2" in log.read_text()


def test_release_twice_and_close_without_use_are_safe(tmp_path: Path) -> None:
    kernel = PhaseKernel(chain.KERNEL_NAME, cwd=tmp_path, log=tmp_path / "k.log")
    kernel.release()
    kernel.release()
    kernel.close()
    assert not run_sync(kernel.manager.is_alive)()


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


def test_chain_shuts_down_every_kernel_it_started(tmp_path: Path, started: list[PhaseKernel]) -> None:
    notebooks = make_notebooks(tmp_path / "notebooks")
    manifest, _ = chain.run_chain(make_config(tmp_path), out=tmp_path / "r", notebook_dir=notebooks, progress=None)
    assert manifest.status == "ok"
    assert len(started) == 2
    assert not any(run_sync(k.manager.is_alive)() for k in started)


def test_kernel_started_for_a_phase_that_is_skipped_is_shut_down(tmp_path: Path, started: list[PhaseKernel]) -> None:
    notebooks = make_notebooks(tmp_path / "notebooks")
    (notebooks / "00_readiness.ipynb").write_text(
        (notebooks / "00_readiness.ipynb").read_text().replace("ctx.write(", "1 / 0; ctx.write("))
    manifest, _ = chain.run_chain(make_config(tmp_path), out=tmp_path / "r", notebook_dir=notebooks, progress=None)
    assert [p.status for p in manifest.phases] == ["failed", "skipped"]
    assert len(started) == 2  # the second booted while the first ran, then was never used
    assert not any(run_sync(k.manager.is_alive)() for k in started)


def test_a_kernel_that_cannot_start_is_a_failed_phase_not_a_crash(tmp_path: Path, monkeypatch) -> None:
    notebooks = make_notebooks(tmp_path / "notebooks")
    monkeypatch.setattr(chain, "ensure_kernel", lambda name=None: None)
    monkeypatch.setattr(chain, "KERNEL_NAME", "no-such-kernel-xyz")
    manifest, landed = chain.run_chain(make_config(tmp_path), out=tmp_path / "r", notebook_dir=notebooks,
                                       progress=None)
    assert manifest.status == "failed" and manifest.phases[0].status == "failed"
    assert "no-such-kernel-xyz" in manifest.phases[0].error
    assert (landed / "manifest.json").is_file()


def test_command_line_skips_the_slow_iri_grammar_import() -> None:
    code = ("import kit.__main__, sys, papermill, nbformat, nbconvert\n"
            "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')])\n"
            "nbformat.validate(nb)\n"
            "assert 'lark' not in sys.modules, 'rfc3987_syntax grammars were built'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
