"""Workshop in a box: variants, the participant's copies (use / reset) and the pre-flight check."""
from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest

from kit import workshop
from kit.config import load_config
from kit.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def sample_root(tmp_path: Path) -> Path:
    """A copy of the pieces the workshop commands read: the notebooks and the variant configs."""
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(ROOT / "data" / "configs" / "workshop", root / "data" / "configs" / "workshop")
    return root


def params(path: Path) -> str:
    """The source of a notebook's parameters cell."""
    nb = nbformat.read(path, as_version=4)
    return next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))


# ---------------------------------------------------------------- variants


def test_four_variants_each_valid_on_bundled_data() -> None:
    """A-D exist, validate, and read only data bundled in the repository (the venue has no network)."""
    found = workshop.variants()
    assert list(found) == ["A", "B", "C", "D"]
    datasets = set()
    for path in found.values():
        config = load_config(path)
        assert config.dataset.path.resolve().is_relative_to(ROOT / "data")
        datasets.add(config.dataset.path.name)
    assert datasets == {"Telco-Customer-Churn.csv", "german_credit.csv", "ai4i2020.csv"}


@pytest.mark.parametrize(("letter", "example"), [("A", "demo.yaml"), ("B", "level1.yaml")])
def test_variants_a_and_b_are_the_example_configs(letter: str, example: str) -> None:
    """A and B stay equal to the README's two examples (apart from the run name)."""
    variant = load_config(ROOT / "data/configs/workshop" / f"{letter}.yaml").model_dump(exclude={"name"})
    original = load_config(ROOT / "data/configs" / example).model_dump(exclude={"name"})
    assert variant == original


def test_unknown_variant_names_the_known_ones() -> None:
    """A typo gets a ConfigError that lists A-D."""
    with pytest.raises(ConfigError, match="unknown; use one of A, B, C, D"):
        workshop.variant_config("E")
    assert workshop.variant_config(" b ").name == "B.yaml"


# ---------------------------------------------------------------- use / reset


def test_use_points_every_notebook_at_the_variant_and_hides_answers(tmp_path: Path) -> None:
    """`use C` writes the five phase notebooks and the exercises, all reading C's config and run folder."""
    root = sample_root(tmp_path)
    folder = workshop.use("c", root)
    names = sorted(p.name for p in folder.glob("*.ipynb"))
    assert names == ["00_readiness.ipynb", "01_use_cases.ipynb", "02_training.ipynb", "03_explainability.ipynb",
                     "04_monitoring.ipynb", "exercises.ipynb"]
    for name in names:
        assert params(folder / name) == ('config_path = "../data/configs/workshop/C.yaml"\n'
                                         'run_dir = "runs/C"\ninteractive = True')
        assert (folder / Path("../data/configs/workshop/C.yaml")).resolve().is_file()
    key = nbformat.read(root / "notebooks/workshop/answer_key.ipynb", as_version=4)
    exercises = nbformat.read(folder / "exercises.ipynb", as_version=4)
    answers = [c for c in key.cells if "answer" in c.metadata.get("tags", [])]
    assert len(answers) >= 20 and not any("answer" in c.metadata.get("tags", []) for c in exercises.cells)
    assert len(exercises.cells) == len(key.cells) - len(answers)
    assert sum(c.source.startswith("### Exercise") for c in exercises.cells) == 10
    assert (folder / ".variant").read_text().strip() == "C"


def test_switching_variant_keeps_the_participants_edits(tmp_path: Path) -> None:
    """`use B` after working in A changes only the parameters, never the participant's own cells."""
    root = sample_root(tmp_path)
    folder = workshop.use("A", root)
    nb = nbformat.read(folder / "01_use_cases.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("my_weights = {'value': {'annual_value': 0.9}}"))
    nbformat.write(nb, folder / "01_use_cases.ipynb")
    workshop.use("B", root)
    after = nbformat.read(folder / "01_use_cases.ipynb", as_version=4)
    assert after.cells[-1].source == "my_weights = {'value': {'annual_value': 0.9}}"
    assert 'config_path = "../data/configs/workshop/B.yaml"' in params(folder / "01_use_cases.ipynb")
    assert workshop.current_variant(root) == "B"


def test_reset_restores_the_start_and_keeps_the_old_work(tmp_path: Path) -> None:
    """Reset: edited notebooks and the run folder move to backup/<time>/ (nothing deleted); fresh copies return."""
    root = sample_root(tmp_path)
    folder = workshop.use("D", root)
    fresh = (folder / "02_training.ipynb").read_text()
    nb = nbformat.read(folder / "02_training.ipynb", as_version=4)
    nb.cells[3].source = "broken("
    nb.cells[3].outputs = [nbformat.v4.new_output("error", ename="SyntaxError", evalue="x", traceback=[])]
    nbformat.write(nb, folder / "02_training.ipynb")
    run = folder / "runs" / "D" / "artifacts"
    run.mkdir(parents=True)
    (run / "readiness.json").write_text('{"level": 2}')
    other = folder / "runs" / "A"
    other.mkdir(parents=True)

    done = workshop.reset(root, now=lambda: datetime(2026, 12, 3, 10, 0, 0, tzinfo=UTC))

    backup = folder / "backup" / "20261203-100000"
    assert done["variant"] == "D" and done["backup"] == backup
    assert sorted(done["moved"]) == ["02_training.ipynb", "D"]
    assert nbformat.read(backup / "02_training.ipynb", as_version=4).cells[3].source == "broken("
    assert json.loads((backup / "D" / "artifacts" / "readiness.json").read_text()) == {"level": 2}
    assert (folder / "02_training.ipynb").read_text() == fresh
    assert not (folder / "runs" / "D").exists() and other.is_dir()  # another variant's run is not touched
    assert not (backup / "01_use_cases.ipynb").exists()             # unchanged notebooks are not copied


def test_reset_of_an_unknown_variant_touches_nothing(tmp_path: Path) -> None:
    """A bad variant fails before any file moves."""
    root = sample_root(tmp_path)
    folder = workshop.use("A", root)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    with pytest.raises(ConfigError, match="workshop variant 'Q'"):
        workshop.reset(root, "Q")
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
    assert not (folder / "backup").exists()


def test_participant_folder_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    """The commands never write through a symlink they did not make."""
    root = sample_root(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "participant").symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="not a plain folder"):
        workshop.reset(root, "A")
    assert list(elsewhere.iterdir()) == []


def test_cli_use_and_reset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """`python -m kit workshop use X` / `reset` print what they did; a bad variant exits 2 with the fix."""
    from kit.__main__ import main

    root = sample_root(tmp_path)
    monkeypatch.setattr(workshop, "ROOT", root)
    assert main(["workshop", "use", "B"]) == 0
    assert "variant B" in capsys.readouterr().out
    assert main(["workshop", "reset"]) == 0
    assert "back at the start for variant B" in capsys.readouterr().out
    assert main(["workshop", "use", "X"]) == 2
    assert "use one of A, B, C, D" in capsys.readouterr().err


# ---------------------------------------------------------------- the check


def test_missing_widget_extension_is_not_ready_with_the_fix(tmp_path: Path) -> None:
    """Without @jupyter-widgets/jupyterlab-manager in any labextensions folder the verdict says how to get it."""
    item = workshop.check_labextension([str(tmp_path)])
    assert not item.ok
    report = workshop.CheckReport(items=[item])
    assert report.verdict().startswith("NOT READY: widgets in JupyterLab")
    assert "pip install --force-reinstall jupyterlab_widgets" in report.verdict()
    found = workshop.check_labextension()  # this venv has it
    assert found.ok and "jupyterlab-manager" in found.detail


def test_missing_kernel_is_not_ready() -> None:
    """A kernel name that is not installed fails with `make install` as the fix."""
    item = workshop.check_kernel(name="no-such-kernel-xyz")
    assert not item.ok and "no Jupyter kernel called 'no-such-kernel-xyz'" in item.detail
    assert "make install" in item.fix


def test_kernel_that_imports_another_kit_is_not_ready(tmp_path: Path) -> None:
    """The kit kernel must import this folder's kit, not one installed elsewhere."""
    item = workshop.check_kernel(root=tmp_path)
    assert not item.ok and "imports the kit from" in item.detail


def test_slow_notebooks_are_reported_not_failed() -> None:
    """Timings above the target make a READY (slow: ...) line; timings below a plain READY."""
    ok = workshop.Item("kernel", True, "fine")
    slow = workshop.CheckReport(items=[ok], seconds={"02_training.ipynb": 31.8, "00_readiness.ipynb": 3.0}, target=20)
    assert slow.ready and slow.verdict().startswith("READY (slow: 02_training.ipynb took more than 20 s")
    assert any(line.endswith("SLOW") for line in slow.lines())
    fast = workshop.CheckReport(items=[ok], seconds={"00_readiness.ipynb": 3.0}, target=20)
    assert fast.verdict().startswith("READY: every notebook ran offline")
    assert not workshop.CheckReport().ready


def test_check_runs_the_notebooks_offline_and_renders_the_widgets(tmp_path: Path) -> None:
    """The real check on the first two phases: notebooks run, the widgets are displayed, timings are recorded."""
    report = workshop.check(phases=["readiness", "use_cases"], keep=tmp_path)
    assert report.ready, report.lines()
    assert set(report.seconds) == {"00_readiness.ipynb", "01_use_cases.ipynb",
                                   "00_readiness.ipynb (widgets)", "01_use_cases.ipynb (widgets)"}
    assert all(s > 0 for s in report.seconds.values())
    for name in ("00_readiness.ipynb", "01_use_cases.ipynb"):
        assert workshop.widget_outputs(nbformat.read(tmp_path / f"interactive-{name}", as_version=4)) >= 1
        assert workshop.widget_outputs(nbformat.read(tmp_path / "run" / name, as_version=4)) == 0  # the chain's copy


def test_check_says_not_ready_when_a_widget_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook that displays no widget turns the check red."""
    report = workshop.CheckReport()
    monkeypatch.setitem(workshop.settings(), "widget_mimetype", "application/x-no-such-widget")
    run = tmp_path / "run"
    from kit.chain import run_chain

    run_chain(ROOT / "data/configs/workshop/A.yaml", out=run, phases=["readiness"], force=True, progress=None)
    monkeypatch.setitem(workshop.settings(), "widget_notebooks", ["00_readiness.ipynb"])
    workshop.render_widgets(ROOT / "data/configs/workshop/A.yaml", run, tmp_path, report)
    assert not report.ready
    assert report.verdict().startswith("NOT READY: widgets render: no widget displayed by 00_readiness.ipynb")


def test_participant_exercises_run_without_the_answers_on_another_variant(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The exercises notebook (answers removed) runs top to bottom for variant C: no setup cell needs an answer cell."""
    root = sample_root(tmp_path)
    (root / "data").mkdir(exist_ok=True)
    for name in ("ai4i_maintenance", "use_cases", "telco_churn"):
        (root / "data" / name).symlink_to(ROOT / "data" / name)
    folder = workshop.use("C", root)
    monkeypatch.chdir(folder)
    namespace: dict = {}
    cells = [c for c in nbformat.read(folder / "exercises.ipynb", as_version=4).cells if c.cell_type == "code"]
    for cell in cells:
        exec(compile(cell.source, "exercises.ipynb", "exec"), namespace)
    assert namespace["ctx"].config.organization.name == "Ostara Networks"
    assert namespace["run"].spec.target == "Machine failure" and namespace["run"].best.kind == "model"
    assert (folder / "runs" / "C" / "artifacts" / "use_cases.json").is_file()


def test_the_check_gives_a_cell_minutes_not_the_chains_hour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung laptop kernel fails `kit workshop check` after check_cell_timeout_seconds (the chain's default is an
    hour), in the chain and in the interactive widget runs."""
    import types

    import papermill

    import kit.chain

    seen: dict[str, object] = {}

    def chain(config, **kwargs):
        seen["chain"] = kwargs["cell_timeout"]
        return types.SimpleNamespace(phases=[], failed_phase=lambda: None), None

    def execute(*args, **kwargs):
        seen["widgets"] = kwargs["execution_timeout"]
        raise RuntimeError("stand-in kernel")

    monkeypatch.setattr(kit.chain, "run_chain", chain)
    monkeypatch.setattr(papermill, "execute_notebook", execute)
    report = workshop.CheckReport()
    assert workshop.run_notebooks(ROOT / "data/configs/workshop/A.yaml", tmp_path / "run", None, report)
    workshop.render_widgets(ROOT / "data/configs/workshop/A.yaml", tmp_path / "run", tmp_path, report)
    limit = workshop.settings()["check_cell_timeout_seconds"]
    assert seen == {"chain": limit, "widgets": limit} and 60 <= limit < 3600
