"""Build the course as a static HTML book from the executed notebooks (``make site``).

Usage::

    python tools/build_site.py                  # notebooks/ (as committed) -> build/site/

Jupyter Book 1's stack (Sphinx, myst-nb, sphinx-book-theme, sphinx-external-toc) renders the
notebooks as committed (executed in the ``fast`` profile; nothing is executed here), with
the README as landing page, navigation and full-text search. Everything a page needs is
served with it, so the site works offline: maths through the MathJax copy of
``sphinx-mathjax-offline``, and the widget manager (``@jupyter-widgets/html-manager`` and
RequireJS, fetched once from the npm registry into ``build/cache/``) renders each widget
from the state its notebook saved.
Solution cells (tag ``solution``) start collapsed. Runs in its own environment
(``.venv-site``, made by ``make site``), because Jupyter Book pins its own Sphinx stack; the
Sphinx configuration is written here (no Thebe, no comments, nothing that calls out).
"""

from __future__ import annotations

import argparse
import glob
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = "notebooks/[0-9][0-9]_*.ipynb"
SOLUTION_TAG = "solution"
WIDGET_PACKAGES = {  # npm package -> (files to keep, folder under _static/widgets)
    "@jupyter-widgets/html-manager@1.0.6": ("package/dist/", "html-manager"),
    "requirejs@2.3.4": ("package/require.js", "requirejs"),
}
CONF_PY = """\
# Sphinx configuration of the course site, written by tools/build_site.py (do not edit).
project = "Generative models, taught in notebooks"
html_title = project
extensions = ["myst_nb", "sphinx_book_theme", "sphinx_togglebutton", "sphinx_copybutton",
              "sphinx_external_toc", "sphinx-mathjax-offline"]
external_toc_path = "_toc.yml"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
nb_execution_mode = "off"  # the notebooks are committed executed (fast profile)
myst_enable_extensions = ["dollarmath", "colon_fence", "linkify"]
html_theme = "sphinx_book_theme"
html_theme_options = {"home_page_in_toc": True, "use_download_button": False,
                      "use_fullscreen_button": False}
html_context = {"default_mode": "light"}
html_static_path = ["_widgets"]  # copied into _static/: the widget manager, served locally
html_show_copyright = False
html_show_sphinx = False
html_sourcelink_suffix = ""
nb_ipywidgets_js = {
    "widgets/mathjax2-shim.js": {},
    "widgets/requirejs/require.js": {},
    "widgets/html-manager/embed-amd.js": {"data-jupyter-widgets-cdn": "_static/widgets/",
                                          "data-jupyter-widgets-cdn-only": "true"},
}
"""


# html-manager 1.0 typesets widget labels with MathJax 2's API (MathJax.Hub.Queue); the site
# runs MathJax 3, so route those calls to MathJax 3's typesetPromise.
MATHJAX2_SHIM = """\
(function () {
  function shim() {
    var mj = window.MathJax;
    if (mj && !mj.Hub) {
      mj.Hub = {Queue: function (job) {
        var node = Array.isArray(job) ? job[2] : undefined;
        if (mj.typesetPromise) {
          mj.typesetPromise(node ? [node] : undefined).catch(function () {});
        }
      }};
    }
  }
  shim();
  document.addEventListener("DOMContentLoaded", shim);
  window.addEventListener("load", shim);
})();
"""


def fetch_widget_js(cache: Path) -> Path:
    """The widget manager's JavaScript, packed from the npm registry once and cached."""
    target = cache / "widgets"
    if all((target / folder).exists() for _, folder in WIDGET_PACKAGES.values()):
        return target
    if shutil.which("npm") is None:
        raise SystemExit("make site needs npm once, to fetch the widget JavaScript from the "
                         "npm registry (Debian: apt-get install npm); it is cached in "
                         "build/cache/.")  # fmt: skip
    cache.mkdir(parents=True, exist_ok=True)
    for package, (keep, folder) in WIDGET_PACKAGES.items():
        run = subprocess.run(["npm", "pack", "--silent", package], cwd=cache,
                             capture_output=True, text=True)  # fmt: skip
        if run.returncode != 0:
            raise SystemExit(f"npm pack {package} failed (is the npm registry reachable?):\n"
                             f"{run.stderr.strip()}")  # fmt: skip
        tgz = cache / run.stdout.strip().splitlines()[-1]
        with tarfile.open(tgz) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.startswith(keep):
                    name = Path(member.name).relative_to(Path(keep).parent if keep.endswith(
                        ".js") else keep)  # fmt: skip
                    out = target / folder / name
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(tar.extractfile(member).read())
        tgz.unlink()
    return target


def site_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A page's notebook: solution cells collapsed (markdown in a closed <details>, kept when
    the source cell already is one, as the course's are; code behind sphinx-togglebutton's
    "hide-cell")."""
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if SOLUTION_TAG not in tags:
            continue
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("<details>"):
            # already collapsed in JupyterLab too: mark it for the site's style and test
            cell.source = cell.source.lstrip().replace("<details>", '<details class="solution">', 1)
        elif cell.cell_type == "markdown":
            cell.source = (f'<details class="solution">\n<summary>Solution</summary>\n\n'
                           f"{cell.source}\n\n</details>")  # fmt: skip
        else:
            cell.metadata["tags"] = [*tags, "hide-cell"]
    return nb


def landing_page(readme: str) -> str:
    """The README as the book's first page, with links into notebooks/ pointing at pages."""
    text = re.sub(r"\]\((?:notebooks/)?(\d\d_[a-z0-9_]+)\.ipynb\)", r"](\1.ipynb)", readme)
    return re.sub(r"`(?:notebooks/)?(\d\d_[a-z0-9_]+)\.ipynb`", r"[`\1`](\1.ipynb)", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / "cache")
    args = parser.parse_args(argv)
    src = args.out.parent / "site-src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    shutil.copytree(fetch_widget_js(args.cache), src / "_widgets" / "widgets")
    (src / "_widgets" / "widgets" / "mathjax2-shim.js").write_text(MATHJAX2_SHIM)
    pages = []
    for path in sorted(Path(p) for p in glob.glob(str(ROOT / NOTEBOOKS))):
        nbformat.write(site_notebook(nbformat.read(path, as_version=4)), src / path.name)
        pages.append(path.stem)
    (src / "index.md").write_text(landing_page((ROOT / "README.md").read_text()))
    (src / "conf.py").write_text(CONF_PY)
    toc = ["format: jb-book", "root: index", "chapters:", *[f"- file: {p}" for p in pages]]
    (src / "_toc.yml").write_text("\n".join(toc) + "\n")
    shutil.rmtree(args.out, ignore_errors=True)
    html = args.out / "_build" / "html"
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going", str(src),
           str(html)]  # fmt: skip
    build = subprocess.run(cmd)
    if build.returncode != 0:
        return build.returncode
    print(f"site in {html} (open index.html, or serve the folder)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
