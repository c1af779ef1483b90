"""Compare the outputs of two executed copies of a notebook (a refactor must not move them).

Usage::

    python tools/compare_outputs.py build/before/04_vae.ipynb build/after/04_vae.ipynb

Prints a unified diff of the text outputs (streams and text/plain results, in cell order,
with wall-clock times and progress bars masked) and says which figures differ (PNG
hashes, in order). Exit status 0 when both agree, 1 otherwise. Cells may be added, removed
or rewritten: outputs are compared as sequences, so only changed outputs show up.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import re
import sys
from pathlib import Path

MASKS = [
    (re.compile(r"\d+(\.\d+)?\s*(s|ms|min|seconds?)\b"), "<time>"),  # wall times
    (re.compile(r"\d+(\.\d+)?\s*(it|steps?)/s\b"), "<rate>"),
    (re.compile(r"\d{4}-\d\d-\d\dT[\d:]+Z?"), "<date>"),
    (re.compile(r"torch CPU threads=\d+"), "torch CPU threads=<n>"),
]


def outputs(path: Path) -> tuple[list[str], list[str]]:
    """(text lines, PNG hashes) of every code cell's outputs, in order."""
    nb = json.loads(Path(path).read_text())
    lines, images = [], []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            text = out.get("text") or (data.get("text/plain") if "image/png" not in data else "")
            if "application/vnd.jupyter.widget-view+json" in data:
                text = ""  # widget reprs and progress bars
            text = "".join(text) if isinstance(text, list) else (text or "")
            for line in text.replace("\r", "\n").splitlines():
                if "it/s]" in line or "%|" in line or not line.strip():
                    continue  # text progress bars
                for pattern, repl in MASKS:
                    line = pattern.sub(repl, line)
                lines.append(line.rstrip())
            if "image/png" in data:
                images.append(hashlib.sha256(data["image/png"].encode()).hexdigest()[:12])
    return lines, images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    (ta, ia), (tb, ib) = outputs(args.before), outputs(args.after)
    diff = list(difflib.unified_diff(ta, tb, str(args.before), str(args.after), lineterm="", n=1))
    print("\n".join(diff) if diff else f"text outputs identical ({len(ta)} lines)")
    same_images = sum(a == b for a, b in zip(ia, ib))
    print(f"figures: {len(ia)} before, {len(ib)} after, {same_images} identical in order")
    return 0 if not diff and ia == ib else 1


if __name__ == "__main__":
    sys.exit(main())
