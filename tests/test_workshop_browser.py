"""The workshop's interactive parts in a real browser: JupyterLab under headless Chromium (Selenium).

Each test opens a phase notebook from a temporary copy, runs all cells, waits until the widget is
drawn by JupyterLab's widget manager (not just sent by the kernel), changes an input the way a
participant would and checks that the output is re-scored. ``test_a_broken_widget_turns_the_test_red``
checks that the same helpers fail on a notebook whose widget no longer re-scores.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them when missing) and
``selenium`` (dev extra). Set KIT_SKIP_BROWSER=1 to skip on a machine without them.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--window-size=1400,1000"]
TOKEN = "kit-browser-test"

if os.environ.get("KIT_SKIP_BROWSER") == "1":
    pytest.skip("KIT_SKIP_BROWSER=1", allow_module_level=True)


class WidgetNotReady(AssertionError):
    """The widget did not render, or did not change, within the time allowed."""


def wait_for(what: str, probe: Callable[[], object], timeout: float) -> object:
    """Poll ``probe`` until it returns something truthy; WidgetNotReady naming ``what`` otherwise."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise WidgetNotReady(f"timed out after {timeout:g} s waiting for {what}")


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """JupyterLab on a temporary copy of the notebooks (data linked read-only), with the kit kernel."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Chromium is missing: `apt-get install -y chromium chromium-driver` (.ci/run does it), "
                    "or set KIT_SKIP_BROWSER=1")
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "workshop"))
    (root / "data").symlink_to(ROOT / "data")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "KIT_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "JUPYTER_CONFIG_DIR": str(root / ".jupyter")}
    log = (root / "lab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--allow-root",
         f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={root / 'notebooks'}",
         "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly"],
        env=env, stdout=log, stderr=subprocess.STDOUT)

    def up() -> bool:
        """Whether the server answers."""
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited; see {root / 'lab.log'}:\n{(root / 'lab.log').read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={TOKEN}", timeout=2)
            return True
        except OSError:
            return False

    try:
        wait_for("JupyterLab to start", up, 120)
        yield {"root": root, "url": f"http://127.0.0.1:{port}", "env": env}
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(lab: dict) -> Iterator[object]:
    """Headless Chromium driven by Selenium (Debian's driver, no download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


KERNEL_IDLE = """
const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
return !!(k && k.status === 'idle' && w.context && w.context.isReady);
"""


CURRENT = "const root = window.jupyterapp.shell.currentWidget.node;"


def open_and_run(driver: object, lab: dict, name: str, css: str, timeout: float = 240) -> None:
    """Open a notebook (fresh workspace), run all cells, wait until ``css`` is drawn in one of its outputs."""
    driver.get(f"{lab['url']}/lab/tree/{name}?reset&token={TOKEN}")
    wait_for(f"{name}'s kernel", lambda: driver.execute_script(KERNEL_IDLE), 120)
    assert driver.execute_script("return window.jupyterapp.shell.currentWidget.context.path") == name
    driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    wait_for(f"a widget ({css}) in {name}", lambda: text_of(driver, f".jp-OutputArea-output {css}", count=True), timeout)
    errors = text_of(driver, '[data-mime-type="application/vnd.jupyter.stderr"]')
    assert not re.search(r"(^|\n)\w*Error: |Traceback", errors), errors[:2000]


def text_of(driver: object, css: str, count: bool = False) -> str | int:
    """The visible text of every element matching ``css`` in the open notebook, joined (or how many there are)."""
    found = driver.execute_script(CURRENT + "const e = Array.from(root.querySelectorAll(arguments[0]));"
                                  "return arguments[1] ? e.length : e.map(x => x.innerText).join(' || ');", css, count)
    return found


def readiness_rescores(driver: object, lab: dict, name: str = "00_readiness.ipynb", timeout: float = 60) -> tuple[str, str]:
    """Untick 'no data catalog' in the questionnaire; return the status line before and after."""
    open_and_run(driver, lab, name, ".widget-tab")
    status = lambda: next((t for t in text_of(driver, ".widget-html-content").split(" || ") if t.startswith("Level ")), "")
    before = wait_for("the questionnaire's status line", status, 60)
    clicked = driver.execute_script(CURRENT + """
        const box = Array.from(root.querySelectorAll('.widget-checkbox'))
            .find(b => b.innerText.trim() === arguments[0]);
        if (!box) return false;
        box.querySelector('input').click();
        return true;""", "There is no data catalog.")
    assert clicked, "the 'There is no data catalog.' checkbox is not in the questionnaire"
    after = wait_for("the status line to re-score", lambda: (s := status()) != before and s, timeout)
    return before, after


def test_questionnaire_renders_and_rescores(browser: object, lab: dict) -> None:
    """Phase 0: the tabbed questionnaire is drawn; clearing a red flag lifts the data pillar from 2 to 2.83."""
    before, after = readiness_rescores(browser, lab)
    assert "Level 2 (Repeatable)" in before and "Data readiness: 2," in before, before
    assert "Data readiness: 2.83" in after, after
    assert "Data readiness" in text_of(browser, ".jp-OutputArea-output .lm-TabBar-tabLabel")


def test_weight_sliders_render_and_rerank(browser: object, lab: dict) -> None:
    """Phase 1: the sliders are drawn; setting a weight to 0 redraws the ranking with other scores."""
    open_and_run(browser, lab, "01_use_cases.ipynb", ".widget-slider")
    table = lambda: text_of(browser, ".jp-OutputArea-output .widget-output table")
    before = wait_for("the live ranking table", table, 60)
    assert "Top use case: Churn prediction" in text_of(browser, ".widget-html-content")
    readout = browser.execute_script(CURRENT + """
        const s = Array.from(root.querySelectorAll('.widget-slider'))
            .find(e => e.innerText.startsWith(arguments[0]));
        return s ? s.querySelector('.widget-readout') : null;""", "Expected annual value")
    assert readout is not None, "no 'Expected annual value' slider"
    from selenium.webdriver.common.keys import Keys

    readout.click()
    browser.execute_script("document.execCommand('selectAll', false, null)")
    readout.send_keys("0", Keys.ENTER)
    after = wait_for("the ranking to change", lambda: (t := table()) != before and t, 60)
    assert before != after and "Churn prediction" in after


def test_a_broken_widget_turns_the_test_red(browser: object, lab: dict) -> None:
    """The same steps fail on a questionnaire that ignores changes: the test can go red."""
    source = nbformat.read(lab["root"] / "notebooks" / "00_readiness.ipynb", as_version=4)
    for cell in source.cells:
        if "readiness_form(" in cell.source:
            cell.source = "\n".join([  # the form scores once when built, then ignores every change
                "from kit.readiness import widgets as _rw",
                "_score = _rw.ReadinessForm.rescore",
                "_rw.ReadinessForm.rescore = lambda self, change=None: _score(self) if change is None else None",
                cell.source])
    nbformat.write(source, lab["root"] / "notebooks" / "broken_readiness.ipynb")
    with pytest.raises(WidgetNotReady, match="status line to re-score"):
        readiness_rescores(browser, lab, "broken_readiness.ipynb", timeout=15)


def test_batch_explorer_renders_and_switches_batch(browser: object, lab: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Phase 4: the batch explorer is drawn after a real training run; picking another batch redraws its drift table."""
    from selenium.webdriver.support.ui import Select

    from kit.chain import run_chain
    from kit.workshop import set_parameters

    run = lab["root"] / "reports" / "chain"
    monkeypatch.setenv("KIT_TRACKING_URI", lab["env"]["KIT_TRACKING_URI"])
    run_chain(ROOT / "data/configs/demo.yaml", out=run, phases=["training"], force=True, progress=None)
    nb = set_parameters(nbformat.read(lab["root"] / "notebooks" / "04_monitoring.ipynb", as_version=4),
                        {"config_path": str(ROOT / "data/configs/demo.yaml"), "run_dir": str(run)})
    nbformat.write(nb, lab["root"] / "notebooks" / "monitoring_explorer.ipynb")
    open_and_run(browser, lab, "monitoring_explorer.ipynb", ".widget-dropdown select", timeout=300)
    table = lambda: text_of(browser, ".jp-OutputArea-output .widget-output table")
    before = wait_for("the chosen batch's drift table", table, 60)
    select = browser.execute_script(CURRENT + "return root.querySelector('.jp-OutputArea-output .widget-dropdown select');")
    options = [o.text for o in Select(select).options]
    assert options == ["2026-01-11", "2026-01-18", "2026-01-25", "2026-02-01", "2026-02-08", "2026-02-15",
                       "2026-02-22", "2026-03-01"], options
    assert Select(select).first_selected_option.text == "2026-03-01"
    Select(select).select_by_visible_text("2026-01-11")
    after = wait_for("the drift table to show 2026-01-11", lambda: (t := table()) != before and t, 60)
    assert "tenure" in before and before != after
