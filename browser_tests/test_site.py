"""The static site (``make site``) in a real browser, offline: every page loads with no
failed request and no console error, images load, maths renders, widgets render from their
saved state, and exercise solutions start collapsed."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, SHOTS, serve

SITE = ROOT / "build" / "site" / "_build" / "html"
PAGES = sorted(p.name for p in SITE.glob("*.html") if p.name not in ("genindex.html",))


@pytest.fixture(scope="module")
def site():
    if not (SITE / "index.html").exists():
        pytest.exit("No site to test: run `make site` first.", returncode=3)
    url, stop = serve(SITE)
    yield url
    stop()


@pytest.fixture(scope="module")
def seen():
    return {"solutions": 0, "math": 0, "widgets": 0}


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_offline_and_renders(site, new_page, seen, name):
    page, watch = new_page()
    page.goto(f"{site}/{name}", wait_until="networkidle")
    if page.locator(".math").count():
        page.wait_for_selector("mjx-container", state="attached", timeout=20_000)
        seen["math"] += 1
        assert page.locator("mjx-merror").count() == 0, "MathJax could not parse some maths"
    views = "script[type='application/vnd.jupyter.widget-view+json']"
    if page.locator(f".jupyter-widgets, {views}").count():
        page.wait_for_selector(".jupyter-widgets.widget-container", state="attached",
                               timeout=20_000)  # fmt: skip
        seen["widgets"] += 1
        assert "Error displaying widget" not in page.content()
    broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || "
                           "i.naturalWidth === 0).map(i => i.src)")  # fmt: skip
    details = page.locator("details.solution")
    seen["solutions"] += details.count()
    opened = page.evaluate("Array.from(document.querySelectorAll('details.solution'))"
                           ".filter(d => d.open).length")  # fmt: skip
    shown_code = page.evaluate(
        "Array.from(document.querySelectorAll('.tag_solution .cell_input'))"
        ".filter(e => e.offsetParent !== null).length"
    )
    page.screenshot(path=str(SHOTS / f"site_{Path(name).stem}.png"), full_page=False)
    assert not watch.failed, f"{name}: failed or blocked requests {watch.failed[:5]}"
    assert not watch.errors, f"{name}: console errors {watch.errors[:5]}"
    assert not broken, f"{name}: images that did not load {broken[:5]}"
    assert opened == 0, f"{name}: {opened} solution(s) start open"
    assert shown_code == 0, f"{name}: {shown_code} solution code cell(s) start visible"


def test_the_site_has_maths_widgets_and_collapsed_solutions(seen):
    """Guards the page test against passing vacuously."""
    assert seen["math"] >= 5, seen
    assert seen["widgets"] >= 3, seen
    assert seen["solutions"] >= 10, seen
