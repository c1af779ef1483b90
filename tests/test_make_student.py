"""tools/make_student.py: solution cells go, outputs are cleared, the guide has the plans."""

import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import make_student  # noqa: E402


def _source_notebook() -> nbformat.NotebookNode:
    header = nbformat.v4.new_markdown_cell(
        "# 99 · Test\n\n**Run time** on 2 CPU cores: `fast` 42 s\n\n"
        "## Timing plan (90 min)\n\n| part | min |\n|---|---|\n| read | 30 |"
        "\n\n## Goals\n\nlearn"
    )
    result = nbformat.v4.new_output("execute_result", {"text/plain": "1"}, execution_count=3)
    code = nbformat.v4.new_code_cell("x = 1\nx", execution_count=3, outputs=[result])
    exercise = nbformat.v4.new_markdown_cell("## Exercises\n\n1. Compute x + 1.")
    answer = nbformat.v4.new_markdown_cell("**Solution 1.** x + 1 = 2, SECRET ANSWER")
    answer.metadata["tags"] = ["solution"]
    answer_code = nbformat.v4.new_code_cell("print(x + 1)  # SECRET CODE")
    answer_code.metadata["tags"] = ["solution", "other"]
    return nbformat.v4.new_notebook(cells=[header, code, exercise, answer, answer_code])


def test_student_copy_drops_solutions_and_outputs():
    copy, removed = make_student.student_copy(_source_notebook())
    text = nbformat.writes(copy)
    assert removed == 2 and "SECRET" not in text
    assert "Workshop copy" in copy.cells[0].source
    code = [c for c in copy.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert "Compute x + 1" in text  # the exercise itself stays


def test_command_writes_copies_and_the_instructors_guide(tmp_path):
    src = tmp_path / "99_test.ipynb"
    nbformat.write(_source_notebook(), src)
    cmd = [sys.executable, str(ROOT / "tools" / "make_student.py"), "--out",
           str(tmp_path / "student"), str(src)]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    copy = nbformat.read(tmp_path / "student" / "99_test.ipynb", as_version=4)
    assert all("SECRET" not in c.source for c in copy.cells)
    guide = (tmp_path / "student" / "README.md").read_text()
    assert "## 99_test.ipynb: 99 · Test" in guide and "2 solution cell(s) removed" in guide
    assert "| read | 30 |" in guide and "learn" not in guide  # the plan, not the next section
    assert "`fast` 42 s" in guide and "## Before the session" in guide


def test_every_course_notebook_states_its_run_time_and_plan():
    for path in COURSE:
        nb = nbformat.read(path, as_version=4)
        assert "fast" in make_student.run_time(nb), path.name
        assert make_student.timing_plan(nb).count("|") > 6, path.name


COURSE = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_every_course_notebook_marks_its_solutions_once():
    """Solutions live only in cells tagged ``solution`` (collapsed in JupyterLab by their own
    <details>, collapsed on the site, dropped from student copies)."""
    assert len(COURSE) >= 10
    for path in COURSE:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if make_student.is_solution(c)]
        assert tagged, f"{path.name}: no cell tagged 'solution'"
        for cell in nb.cells:
            if make_student.is_solution(cell):
                continue
            assert "<details" not in cell.source, f"{path.name}: a solution outside a tagged cell"


def test_student_copies_of_the_course_hold_no_solution_text(tmp_path):
    for path in COURSE:
        nb = nbformat.read(path, as_version=4)
        student, removed = make_student.student_copy(nb)
        assert removed == sum(make_student.is_solution(c) for c in nb.cells) > 0
        text = "\n".join(c.source for c in student.cells)
        assert "<details" not in text and "</details>" not in text, path.name
        for cell in nb.cells:
            if make_student.is_solution(cell):
                body = max(cell.source.split("\n\n"), key=len)  # its longest paragraph
                assert body not in text, f"{path.name}: solution text survives"
        code = [c.source for c in nb.cells
                if c.cell_type == "code" and not make_student.is_solution(c)]  # fmt: skip
        assert [c.source for c in student.cells if c.cell_type == "code"] == code
        assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
