"""Workshop in a box: the pre-flight check for a participant's laptop, variant switching and reset.

``python -m kit workshop check`` runs every phase notebook offline on the bundled data, renders
the widgets in the kit kernel, looks for JupyterLab's widget extension and prints READY or
NOT READY with the fix. ``use B`` points the participant's working copies (``participant/``)
at variant B; ``reset`` returns them and their run folder to the start, moving what it
replaces into ``participant/backup/<time>/`` so nothing is lost.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nbformat

from kit import content
from kit.errors import ConfigError, KitError
from kit.phases import NOTEBOOK_DIR, PHASES

ROOT = NOTEBOOK_DIR.parent
KERNEL = "kit"


def settings() -> dict:
    """The workshop settings (kit/content/workshop.yaml)."""
    return content.load("workshop")


# --------------------------------------------------------------------------- variants


def variants(root: Path = ROOT) -> dict[str, Path]:
    """The participant variants: letter -> config file, from data/configs/workshop/."""
    folder = root / settings()["variants_dir"]
    return {p.stem: p for p in sorted(folder.glob("*.yaml")) if re.fullmatch(r"[A-Z]", p.stem)}


def variant_config(letter: str, root: Path = ROOT) -> Path:
    """The config of one variant (ConfigError naming the known ones otherwise)."""
    known = variants(root)
    key = str(letter).strip().upper()
    if key not in known:
        raise ConfigError(f"workshop variant {letter!r}: unknown; use one of {', '.join(known) or 'none found'}"
                          f" (the configs in {settings()['variants_dir']}/)")
    return known[key]


# --------------------------------------------------------------------------- participant copies


def participant_dir(root: Path = ROOT) -> Path:
    """The participant's working folder (refused when it is a symlink or not a folder)."""
    folder = root / settings()["participant_dir"]
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise ConfigError(f"{folder}: not a plain folder; move it away, the workshop commands manage this path")
    return folder


def participant_sources(root: Path = ROOT) -> dict[str, Path]:
    """The notebooks a participant gets: the five phases plus the exercises (file name -> source)."""
    sources = {p.notebook: root / "notebooks" / p.notebook for p in PHASES}
    sources[settings()["exercises_name"]] = root / settings()["answer_key"]
    return sources


def set_parameters(nb: nbformat.NotebookNode, values: dict[str, object]) -> nbformat.NotebookNode:
    """Rewrite the assignments of the cell tagged ``parameters`` (the other lines stay)."""
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ConfigError("notebook has no cell tagged 'parameters'; restore it from git (`git checkout notebooks/`)")
    lines = cells[0].source.splitlines()
    for name, value in values.items():
        pattern = re.compile(rf"^{name}\s*=")
        new = f"{name} = {value!r}" if not isinstance(value, str) else f'{name} = "{value}"'
        hits = [i for i, line in enumerate(lines) if pattern.match(line)]
        if hits:
            lines[hits[0]] = new
        else:
            lines.append(new)
    cells[0].source = "\n".join(lines)
    return nb


def drop_answers(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The participant version of the answer key: cells tagged ``answer`` removed (nbconvert's preprocessor)."""
    from nbconvert.preprocessors import TagRemovePreprocessor

    pre = TagRemovePreprocessor(remove_cell_tags={settings()["answer_tag"]})
    pre.enabled = True
    out, _ = pre.preprocess(nbformat.from_dict(json.loads(json.dumps(nb))), {})
    return out


def fresh_notebook(name: str, source: Path, letter: str) -> nbformat.NotebookNode:
    """A notebook as the participant starts it: outputs cleared, pointed at the variant's config and run folder."""
    nb = nbformat.read(source, as_version=4)
    if name == settings()["exercises_name"]:
        nb = drop_answers(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    config = Path("..") / settings()["variants_dir"] / f"{letter}.yaml"
    return set_parameters(nb, {"config_path": config.as_posix(), "run_dir": f"{settings()['runs_dir']}/{letter}",
                               "interactive": True})


def current_variant(root: Path = ROOT) -> str:
    """The variant the participant's notebooks point at (the default before ``use``)."""
    state = participant_dir(root) / ".variant"
    return state.read_text(encoding="utf-8").strip() if state.exists() else settings()["default_variant"]


def _write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write a notebook atomically (a crash never leaves half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, path)


def use(letter: str, root: Path = ROOT) -> Path:
    """Point the participant's notebooks at a variant; existing copies keep their edits (only parameters change)."""
    config = variant_config(letter, root)
    letter = config.stem
    folder = participant_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in participant_sources(root).items():
        target = folder / name
        if target.exists():
            nb = nbformat.read(target, as_version=4)
            config_rel = (Path("..") / settings()["variants_dir"] / f"{letter}.yaml").as_posix()
            nb = set_parameters(nb, {"config_path": config_rel, "run_dir": f"{settings()['runs_dir']}/{letter}"})
        else:
            nb = fresh_notebook(name, source, letter)
        _write_notebook(nb, target)
    (folder / ".variant").write_text(letter + "\n", encoding="utf-8")
    return folder


def _same_notebook(a: nbformat.NotebookNode, b: nbformat.NotebookNode) -> bool:
    """Whether two notebooks have the same cells (sources and outputs)."""
    key = [(c.cell_type, c.source, json.dumps(c.get("outputs", []), sort_keys=True)) for c in a.cells]
    return key == [(c.cell_type, c.source, json.dumps(c.get("outputs", []), sort_keys=True)) for c in b.cells]


def reset(root: Path = ROOT, letter: str | None = None, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> dict:
    """Return the participant's notebooks and run folder to the start; what changed moves to backup/<time>/."""
    letter = variant_config(letter or current_variant(root), root).stem
    folder = participant_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    backup = folder / settings()["backup_dir"] / now().strftime("%Y%m%d-%H%M%S")
    moved: list[str] = []

    def keep(path: Path) -> None:
        """Move one path into the backup folder."""
        backup.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(backup / path.name))
        moved.append(path.name)

    for name, source in participant_sources(root).items():
        target, fresh = folder / name, fresh_notebook(name, source, letter)
        if target.exists() and not _same_notebook(nbformat.read(target, as_version=4), fresh):
            keep(target)
        _write_notebook(fresh, target)
    run = folder / settings()["runs_dir"] / letter
    if run.is_symlink() or run.exists():
        keep(run)
    if (folder / ".ipynb_checkpoints").exists():
        keep(folder / ".ipynb_checkpoints")
    (folder / ".variant").write_text(letter + "\n", encoding="utf-8")
    return {"variant": letter, "folder": folder, "backup": backup if moved else None, "moved": moved}


# --------------------------------------------------------------------------- the check


@dataclass
class Item:
    """One line of the check: what was checked, whether it passed, what was found and the fix."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass
class CheckReport:
    """The whole check: its items and the seconds each notebook took."""

    items: list[Item] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    target: float = 20.0

    @property
    def ready(self) -> bool:
        """Ready when every item passed (slow notebooks are reported, not failed)."""
        return bool(self.items) and all(i.ok for i in self.items)

    def slow(self) -> list[str]:
        """The notebooks slower than the target."""
        return [n for n, s in self.seconds.items() if s > self.target]

    def verdict(self) -> str:
        """The one READY / NOT READY line, with the fix."""
        failed = [i for i in self.items if not i.ok]
        if failed:
            return f"NOT READY: {failed[0].name}: {failed[0].detail}. Fix: {failed[0].fix}"
        slow = self.slow()
        if slow:
            return (f"READY (slow: {', '.join(slow)} took more than {self.target:g} s; close other programs, "
                    "plug the laptop in, and expect the cells to take a moment)")
        return f"READY: every notebook ran offline in under {self.target:g} s and the widgets render"

    def lines(self) -> list[str]:
        """The report as printed: items, timings, then the verdict."""
        out = [f"[{'ok' if i.ok else 'FAIL':>4}] {i.name}: {i.detail}" for i in self.items]
        if self.seconds:
            out.append(f"seconds per notebook (target < {self.target:g} s):")
            out += [f"  {n:<28} {s:6.1f} s{'  SLOW' if s > self.target else ''}" for n, s in self.seconds.items()]
        out.append(self.verdict())
        return out


def check_kernel(root: Path = ROOT, name: str = KERNEL) -> Item:
    """The kit kernel is installed and imports this folder's kit and ipywidgets."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    fix = f"run `make install` in {root} (it installs the '{name}' kernel), then run this check again"
    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return Item("kernel", False, f"no Jupyter kernel called '{name}'", fix)
    probe = "import kit, ipywidgets, sys; print(kit.__file__); print(sys.executable)"
    try:
        done = subprocess.run([spec.argv[0], "-c", probe], capture_output=True, text=True, timeout=120,
                              env={**os.environ, **(spec.env or {})})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Item("kernel", False, f"the '{name}' kernel's Python {spec.argv[0]} does not start ({exc})", fix)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Item("kernel", False, f"the '{name}' kernel cannot import the kit or ipywidgets ({last})", fix)
    kit_file, python = done.stdout.split()[:2]
    if not Path(kit_file).resolve().is_relative_to(root.resolve()):
        return Item("kernel", False, f"the '{name}' kernel imports the kit from {Path(kit_file).parent}, not from {root}",
                    fix)
    return Item("kernel", True, f"'{name}' ({python}) imports the kit from {root}")


def find_labextension(paths: list[str] | None = None) -> Path | None:
    """The widget manager's JupyterLab extension (its package.json), or None."""
    from jupyter_core.paths import jupyter_path

    for base in paths if paths is not None else jupyter_path("labextensions"):
        candidate = Path(base) / settings()["labextension"] / "package.json"
        if candidate.is_file():
            return candidate
    return None


def check_labextension(paths: list[str] | None = None) -> Item:
    """JupyterLab has the extension that draws ipywidgets in the browser."""
    found = find_labextension(paths)
    if found is None:
        return Item("widgets in JupyterLab", False,
                    f"the JupyterLab extension {settings()['labextension']} is missing, so widgets show as text",
                    "reinstall it while online: `.venv/bin/pip install --force-reinstall jupyterlab_widgets ipywidgets`")
    version = json.loads(found.read_text(encoding="utf-8")).get("version", "?")
    return Item("widgets in JupyterLab", True, f"{settings()['labextension']} {version}")


@contextlib.contextmanager
def offline(tracking_dir: Path) -> Iterator[None]:
    """Proxies that lead nowhere and a private MLflow store, for this process and the kernels it starts."""
    changes = {**settings()["offline_env"], "KIT_TRACKING_URI": f"sqlite:///{tracking_dir / 'mlflow.db'}"}
    saved = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_notebooks(config: Path, out: Path, phases: list[str] | None, report: CheckReport) -> bool:
    """Run the phase notebooks as the chain does (offline); record seconds and any failure."""
    from kit.chain import run_chain

    manifest, _ = run_chain(config, out=out, phases=phases, force=True, progress=None,
                            cell_timeout=int(settings()["check_cell_timeout_seconds"]))
    for phase in manifest.phases:
        report.seconds[phase.notebook] = round(float(phase.seconds or 0.0), 1)
    failed = manifest.failed_phase()
    if failed:
        report.items.append(Item("notebooks", False, f"{failed.notebook} failed: {failed.error}",
                                 f"read {out}/logs/{failed.name}.log and the failing cell in {out}/{failed.notebook}; "
                                 "`make install` repairs a broken environment"))
        return False
    report.items.append(Item("notebooks", True, f"{len(manifest.phases)} ran top to bottom offline on {config.name}"))
    return True


def widget_outputs(nb: nbformat.NotebookNode) -> int:
    """How many widget views a notebook's outputs hold."""
    mime = settings()["widget_mimetype"]
    return sum(mime in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def render_widgets(config: Path, run_dir: Path, work: Path, report: CheckReport) -> None:
    """Run the widget notebooks interactively in the kit kernel; each must display a widget."""
    import papermill

    from kit.chain import _stderr_to

    missing = []
    for name in settings()["widget_notebooks"]:
        started = time.perf_counter()
        out = work / f"interactive-{name}"
        try:
            with _stderr_to(work / "logs" / f"interactive-{name}.log"):
                papermill.execute_notebook(str(NOTEBOOK_DIR / name), str(out), kernel_name=KERNEL, progress_bar=False,
                                           cwd=str(NOTEBOOK_DIR), log_output=False,
                                           execution_timeout=int(settings()["check_cell_timeout_seconds"]),
                                           parameters={"config_path": str(config), "run_dir": str(run_dir),
                                                       "interactive": True})
        except Exception as exc:  # papermill raises its own error types for a failing cell
            report.items.append(Item("widgets render", False, f"{name} with interactive=True failed: "
                                     f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}",
                                     "run `make install` (ipywidgets and the kernel) and check again"))
            return
        report.seconds[f"{name} (widgets)"] = round(time.perf_counter() - started, 1)
        if widget_outputs(nbformat.read(out, as_version=4)) == 0:
            missing.append(name)
    if missing:
        report.items.append(Item("widgets render", False, f"no widget displayed by {', '.join(missing)}",
                                 "run `make install` (ipywidgets) and check again"))
    else:
        report.items.append(Item("widgets render", True, f"{', '.join(settings()['widget_notebooks'])} display their widgets"))


def check(root: Path = ROOT, letter: str | None = None, phases: list[str] | None = None,
          keep: Path | None = None) -> CheckReport:
    """The pre-flight check of one laptop: kernel, widget extension, every notebook offline, widgets, timings."""
    report = CheckReport(target=float(settings()["target_seconds_per_notebook"]))
    config = variant_config(letter or settings()["default_variant"], root)
    report.items.append(check_kernel(root))
    report.items.append(check_labextension())
    if not report.items[0].ok:
        return report
    work = Path(tempfile.mkdtemp(prefix="kit-workshop-check-")) if keep is None else keep
    try:
        with offline(work):
            try:
                if run_notebooks(config, work / "run", phases, report):
                    render_widgets(config, work / "run", work, report)
            except KitError as exc:
                report.items.append(Item("notebooks", False, str(exc), "fix the problem named, then check again"))
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return report


# --------------------------------------------------------------------------- command line


def main(action: str, letter: str | None = None, phases: str | None = None, root: Path | None = None) -> int:
    """``python -m kit workshop ACTION [VARIANT]``; returns the exit code (0 ready/done, 1 not ready)."""
    root = root or ROOT
    if action == "variants":
        current = current_variant(root)
        for key, path in variants(root).items():
            from kit.config import load_config

            config = load_config(path)
            mark = "*" if key == current else " "
            print(f"{mark} {key}  {config.organization.name:<32} {config.dataset.name or path.name}")
        return 0
    if action == "use":
        if not letter:
            raise ConfigError(f"workshop use: name a variant, one of {', '.join(variants(root))}")
        folder = use(letter, root)
        print(f"variant {letter.upper()}: notebooks in {folder} now read {variant_config(letter, root).relative_to(root)}; "
              f"open them with `.venv/bin/jupyter lab {folder.relative_to(root)}/`")
        return 0
    if action == "reset":
        done = reset(root, letter)
        where = f"; your previous work is in {done['backup'].relative_to(root)}/" if done["backup"] else ""
        print(f"reset: {done['folder'].relative_to(root)}/ is back at the start for variant {done['variant']}{where}")
        return 0
    selected = [p.strip() for p in phases.split(",") if p.strip()] if phases else None
    print("workshop check: kernel, widget extension, every notebook offline, widgets (about a minute)...", flush=True)
    report = check(root, letter, selected)
    print("\n".join(report.lines()))
    return 0 if report.ready else 1
