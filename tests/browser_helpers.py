"""Drive a real JupyterLab in headless Chromium (Playwright), for the prompt editor's browser test.

The recipe is ``../shared/notes/browser-test.md``: JupyterLab on 127.0.0.1 with a token and every
Jupyter/IPython folder isolated in the test's temp folder, the announcements toast disabled,
system Chromium launched by path (``playwright install`` is never run), the kernel waited for by
its status-bar text before Run All, the canvas waited for until painted, and the server stopped
through its API. JupyterLab's class names and English menu labels live here only.

Example::

    with JupyterLab(root, scratch) as lab, Browser(scratch) as browser:
        page = browser.open_notebook(lab, "02_prompt.ipynb")
        run_all_cells(page)
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")  # the first skips a noisy wrapper
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KERNEL_IDLE_TEXT = "Python 3 (ipykernel) | Idle"


def find_chromium() -> str | None:
    for path in CHROMIUM_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return None


def browser_missing() -> str | None:
    """Why the browser test cannot run here (None if it can)."""
    if find_chromium() is None:
        return ("Chromium not found at /usr/bin/chromium (Debian/Ubuntu: apt-get install -y chromium "
                "fonts-liberation)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install 'vidmask-nb[dev]')"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_env(scratch: Path) -> dict:
    """Environment with every Jupyter/IPython/XDG folder inside ``scratch`` (nothing written elsewhere)."""
    env = dict(os.environ)
    for var, sub in (("JUPYTER_CONFIG_DIR", "jupyter_config"), ("JUPYTER_RUNTIME_DIR", "jupyter_runtime"),
                     ("JUPYTER_DATA_DIR", "jupyter_data"), ("IPYTHONDIR", "ipython"),
                     ("XDG_CONFIG_HOME", "xdg_config"), ("XDG_CACHE_HOME", "xdg_cache"), ("TMPDIR", "tmp")):
        (scratch / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(scratch / sub)
    labconfig = scratch / "jupyter_config" / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    # The "Get notified about Jupyter news?" toast covers the page otherwise.
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    env.pop("JUPYTER_PATH", None)
    return env


class JupyterLab:
    """A JupyterLab server on 127.0.0.1 serving ``root``; a context manager."""

    def __init__(self, root: Path, scratch: Path, timeout: float = 90.0):
        self.root, self.scratch, self.timeout = Path(root), Path(scratch), timeout
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.scratch / "jupyterlab.log"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "JupyterLab":
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--allow-root", f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--ServerApp.port_retries=0", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        self.scratch.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=isolated_env(self.scratch), stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        self.__exit__(None, None, None)
        raise RuntimeError(f"JupyterLab did not answer within {self.timeout:.0f} s:\n{self.log_tail()}")

    def api(self, method: str, path: str) -> bytes:
        req = urllib.request.Request(self.url + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.read()

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}"

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def __exit__(self, *exc) -> None:
        if self.proc is None:
            return
        try:  # a clean shutdown ends the kernels too
            self.api("POST", "/api/shutdown")
            self.proc.wait(timeout=20)
        except Exception:
            if self.proc.poll() is None:  # only our own server (its own session), never by name
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=10)
        finally:
            self._log.close()
            self.proc = None


class Browser:
    """Headless system Chromium under Playwright; a context manager holding one page."""

    def __init__(self, scratch: Path, viewport=(1400, 1100)):
        self.scratch = Path(scratch)
        self.viewport = viewport
        self.shots = self.scratch / "screenshots"
        self.shots.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> "Browser":
        from playwright.sync_api import sync_playwright

        # Chromium's profile and singleton socket go in TMPDIR; a unix socket path must stay under
        # ~100 bytes, which pytest's deep temp folders exceed, so use a short folder of our own.
        self._tmp = tempfile.mkdtemp(prefix="vmc-", dir="/tmp" if os.path.isdir("/tmp") else None)
        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS,
                                                 env={**os.environ, "TMPDIR": self._tmp})
        self.page = self._browser.new_page(viewport={"width": self.viewport[0], "height": self.viewport[1]})
        self.console: list[str] = []
        self.page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        return self

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{len(list(self.shots.glob('*.png'))):02d}_{name}.png"
        try:
            self.page.screenshot(path=str(path), full_page=False)
        except Exception:  # a screenshot is evidence, never the failure itself
            pass
        return path

    def __exit__(self, *exc) -> None:
        try:
            self._browser.close()
        finally:
            self._pw.stop()
            shutil.rmtree(self._tmp, ignore_errors=True)


# -- JupyterLab page actions (class names and menu labels of jupyterlab 4.x) --------------------------

def open_notebook(page, lab: JupyterLab, name: str, timeout_ms: int = 120_000, alone: bool = False) -> None:
    """Open a notebook and wait until its kernel really exists and is idle (not just the toolbar). ``alone``:
    JupyterLab's workspace is reset first, so the notebooks opened before are not open beside it."""
    page.goto(lab.notebook_url(name) + ("&reset" if alone else ""), wait_until="domcontentloaded", timeout=timeout_ms)
    page.wait_for_selector(".jp-Notebook", timeout=timeout_ms)
    page.get_by_text(KERNEL_IDLE_TEXT).first.wait_for(timeout=timeout_ms)


def run_all_cells(page, timeout_ms: int = 30_000) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click(timeout=timeout_ms)
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click(timeout=timeout_ms)


def wait_until_executed(page, timeout_ms: int = 240_000) -> None:
    """Every code cell has an execution count and the kernel is idle again."""
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""", timeout=timeout_ms)
    page.get_by_text(KERNEL_IDLE_TEXT).first.wait_for(timeout=timeout_ms)


def cell_errors(page) -> list[str]:
    return page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'], "
                        ".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").all_inner_texts()


def wait_canvas_painted(page, selector: str, timeout_ms: int = 60_000):
    """The canvas element once a pixel in its middle is drawn (image data decodes asynchronously)."""
    canvas = page.locator(selector).first
    canvas.wait_for(state="visible", timeout=timeout_ms)
    canvas.scroll_into_view_if_needed()
    page.wait_for_function(
        """(sel) => {
            const c = document.querySelector(sel);
            if (!c || !c.width) return false;
            const px = c.getContext('2d').getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data;
            return px[3] > 0;
        }""", arg=selector, timeout=timeout_ms)
    return canvas


def canvas_to_page(page, canvas, x: float, y: float) -> tuple[float, float]:
    """Page (viewport) coordinates of canvas pixel (x, y), however CSS scales the canvas."""
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    size = canvas.evaluate("c => [c.width, c.height]")
    return box["x"] + x * box["width"] / size[0], box["y"] + y * box["height"] / size[1]


def drag(page, canvas, start: tuple[float, float], end: tuple[float, float], steps: int = 10) -> None:
    """Press at canvas pixel ``start``, move to ``end`` in steps, release."""
    x0, y0 = canvas_to_page(page, canvas, *start)
    x1, y1 = canvas_to_page(page, canvas, *end)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=steps)
    page.mouse.up()


def click(page, canvas, at: tuple[float, float], button: str = "left") -> None:
    x, y = canvas_to_page(page, canvas, *at)
    page.mouse.click(x, y, button=button)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.25, what: str = "condition"):
    """Poll ``predicate`` (kernel-side effects such as a file) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (OSError, ValueError, KeyError):
            last = None
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def copy_artifacts(src: Path, dest: Path) -> None:
    """Keep screenshots where a person can look at them after the run (tests/artifacts, gitignored)."""
    dest.mkdir(parents=True, exist_ok=True)
    top = dest if dest.parent.name != "artifacts" else dest.parent
    if not (top / ".gitignore").exists():  # '*' ignores the folder's files and itself: nothing to commit
        (top / ".gitignore").write_text("*\n")
    for p in sorted(src.glob("*.png")):
        shutil.copy2(p, dest / p.name)
