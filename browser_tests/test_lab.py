"""Every widget of the course in JupyterLab, in a real browser: each notebook runs top to
bottom in the smoke profile, every course widget renders (no "Error displaying widget", no
traceback), and moving each of its sliders or dropdowns changes what it shows."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SHOTS

NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RUN_TIMEOUT_S = 240  # one notebook in smoke (<= 60 s on a quiet 2-core machine)
SETTINGS = {  # no windowed rendering (off-screen cells stay rendered), nothing fetched online
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    work = tmp_path_factory.mktemp("lab")
    for name in NOTEBOOKS:  # a copy: the test never saves over the course's notebooks
        shutil.copy(ROOT / "notebooks" / name, work / name)
    settings = work / ".settings"
    for rel, value in SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, COURSE_PROFILE="smoke", HF_HUB_OFFLINE="1",
               JUPYTERLAB_SETTINGS_DIR=str(settings))  # fmt: skip
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
           f"--LabApp.workspaces_dir={work / '.workspaces'}",
           "--ServerApp.allow_root=True"]  # fmt: skip
    log = open(work / "lab.log", "w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start: {(work / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield url, token
    server.terminate()
    server.wait(30)
    log.close()


def _open(page, url: str, token: str, name: str) -> None:
    """Open one notebook in a fresh workspace (JupyterLab would otherwise reopen every
    notebook of the previous test, each with its own kernel)."""
    space = name.split(".")[0].replace("_", "-")
    page.goto(f"{url}/lab/workspaces/{space}/tree/{name}?token={token}&reset",
              wait_until="domcontentloaded")  # fmt: skip


def _close(page) -> None:
    """Shut the notebook's kernel down, so the next notebook has the CPU to itself."""
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")


def _run_all(page, timeout_s: int) -> None:
    """Run every cell through JupyterLab's own command and wait until the kernel is idle
    with every code cell executed."""
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext?.session"
                           "?.kernel?.status === 'idle'", timeout=120_000)  # fmt: skip
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        """() => {
            const nb = window.jupyterapp.shell.currentWidget;
            const cells = nb.content.widgets.filter(c => c.model.type === 'code');
            const done = cells.every(c => c.model.executionCount !== null
                                     || !c.model.sharedModel.getSource().trim());
            return done && nb.sessionContext.session.kernel.status === 'idle';
        }""",
        timeout=timeout_s * 1000,
        polling=1000,
    )


VIEW_JS = """el => { const o = el.querySelector('.jupyter-widgets-output-area, .widget-output');
    if (!o) return '';
    return Array.from(o.querySelectorAll('img')).map(i => i.src).join('|') + '#' + o.innerText;
}"""


def _view(widget) -> str:
    """What a widget shows: its output area's images (their data) and text, not its HTML
    (a re-render of the same picture changes the HTML but not what a learner sees)."""
    return widget.evaluate(VIEW_JS)


def _move_controls(page, widget) -> list[str]:
    """Change each slider and dropdown of a course widget; list those that changed nothing."""
    stuck = []
    controls = widget.locator(".widget-slider, .widget-dropdown select, .widget-toggle-buttons")
    for i in range(controls.count()):
        control = controls.nth(i)
        before = _view(widget)
        kind = control.get_attribute("class") or control.evaluate("e => e.tagName")
        if control.evaluate("e => e.tagName") == "SELECT":
            options = control.locator("option")
            current = control.input_value()
            values = [options.nth(k).get_attribute("value") for k in range(options.count())]
            control.select_option(next(v for v in values if v != current))
        elif "widget-toggle-buttons" in kind:
            buttons = control.locator("button:not(.mod-active)")
            buttons.first.click()
        else:
            handle = control.locator(".noUi-handle").first
            now, top = (handle.get_attribute(a) for a in ("aria-valuenow", "aria-valuemax"))
            if handle.get_attribute("aria-valuemin") == top:
                stuck.append(f"control {i} ({kind}): a slider with one value")
                continue
            handle.focus()
            handle.press("Home" if now == top else "End")  # the other end: another value
        try:
            page.wait_for_function(f"([el, old]) => ({VIEW_JS})(el) !== old",
                                   arg=[widget.element_handle(), before], timeout=60_000)
        except Exception:
            stuck.append(f"control {i} ({kind})")
    return stuck


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_widget_renders_and_responds(lab, new_page, name):
    url, token = lab
    page, watch = new_page()
    _open(page, url, token, name)
    _run_all(page, RUN_TIMEOUT_S)
    page.wait_for_timeout(2000)  # let the last widget views attach
    body = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first
    assert "Error displaying widget" not in body.inner_text(), f"{name}: a widget failed"
    stderr = "'application/vnd.jupyter.stderr'"
    tracebacks = page.locator(f".jp-OutputArea-output[data-mime-type={stderr}]"
                              ":has-text('Traceback')")  # fmt: skip
    assert tracebacks.count() == 0, f"{name}: {tracebacks.first.inner_text()[:500]}"
    widgets = page.locator(".course-widget")
    stuck = []
    for i in range(widgets.count()):
        widget = widgets.nth(i)
        widget.scroll_into_view_if_needed()
        assert widget.locator("img, .jp-RenderedText").count() > 0, f"{name}: widget {i} is empty"
        stuck += [f"widget {i}: {s}" for s in _move_controls(page, widget)]
    page.screenshot(path=str(SHOTS / f"lab_{Path(name).stem}.png"), full_page=False)
    _close(page)
    assert not stuck, f"{name}: controls that changed nothing: {stuck}"
    offline = [f for f in watch.failed if "blocked" in f]
    assert not offline, f"{name}: JupyterLab tried to reach the network: {offline[:3]}"


def test_the_course_has_widgets_to_test(lab, new_page):
    """Guards the test above against passing vacuously (a renamed CSS class, say)."""
    url, token = lab
    page, _ = new_page()
    _open(page, url, token, "05_denoising_vae.ipynb")
    _run_all(page, RUN_TIMEOUT_S)
    page.wait_for_timeout(2000)
    sliders = page.locator(".course-widget .widget-slider").count()
    _close(page)
    assert sliders >= 1
