"""Fixtures of the browser tests (``make test-browser``): Debian's Chromium driven by
Playwright, with every request that leaves 127.0.0.1 blocked and recorded."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.exit("The browser tests need Debian's chromium: apt-get install -y chromium "
                    "(as root; .ci/run does it), or set CHROMIUM=/path/to/chrome.", returncode=3)
    return path


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Watch:
    """What went wrong on a page: failed or blocked requests, console errors."""

    def __init__(self, page):
        self.failed, self.errors = [], []
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.url} {r.status}"))
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

        def route(r):
            host = r.request.url.split("/")[2] if "://" in r.request.url else ""
            if r.request.url.startswith(("data:", "blob:")) or host.split(":")[0] in (
                    "127.0.0.1", "localhost"):  # fmt: skip
                r.continue_()
            else:
                self.failed.append(f"{r.request.url} (blocked: not 127.0.0.1)")
                r.abort()

        page.route("**/*", route)


@pytest.fixture
def new_page(browser):
    pages = []

    def make():
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        pages.append(context)
        return page, Watch(page)

    yield make
    for context in pages:
        context.close()


def serve(folder: Path):
    """A static file server for ``folder`` on 127.0.0.1 (a free port); returns (url, stop)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server.shutdown
