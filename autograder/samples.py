"""Builds student-like submissions from a lab's release and source notebooks.

Used by the demo (sample students), the adversarial corpus and the mutation tests: start
from the release (what students receive) and fill answer cells from the source solution,
optionally replacing or editing some cells.
"""

import pathlib

import nbformat


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def solution_answers(source_path):
    """The solution source of every answer cell, by grade_id."""
    notebook = nbformat.read(str(source_path), as_version=4)
    return {
        _grade_id(cell): cell.source
        for cell in notebook.cells
        if cell.cell_type == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution")
    }


def make_submission(release_path, source_path, answers=None, edit=None):
    """A release notebook with answer cells filled: answers overrides the solution per grade_id.

    edit, if given, is called with the notebook (nbformat object) to tamper with it further.
    """
    notebook = nbformat.read(str(release_path), as_version=4)
    filled = dict(solution_answers(source_path))
    filled.update(answers or {})
    for cell in notebook.cells:
        if cell.cell_type == "code" and _grade_id(cell) in filled:
            cell.source = filled[_grade_id(cell)]
    if edit is not None:
        edit(notebook)
    return notebook


def apply_replacements(source, replacements, where=""):
    """Apply (old, new) text replacements; each old text must occur exactly once."""
    for old, new in replacements:
        count = source.count(old)
        if count != 1:
            raise ValueError(f"{where}: expected exactly one occurrence of {old!r}, found {count}")
        source = source.replace(old, new)
    return source


def write_notebook(notebook, path):
    """Write a notebook, creating folders."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path


def unfinished(release_path, grade_id):
    """The release (unfinished) source of one answer cell."""
    notebook = nbformat.read(str(release_path), as_version=4)
    for cell in notebook.cells:
        if _grade_id(cell) == grade_id:
            return cell.source
    raise ValueError(f"{release_path} has no cell {grade_id!r}")


def demo_students(release_path, source_path):
    """Five sample students for a lab: complete, unfinished, one part wrong, tampering, hanging."""
    answers = list(solution_answers(source_path))
    if not answers:
        raise ValueError(f"{source_path} has no answer cells")
    first, last = answers[0], answers[-1]

    def tamper(notebook):
        # Monkeypatch numpy and the checks, and gut every test cell: none of it should matter.
        for cell in notebook.cells:
            nbgrader = cell.get("metadata", {}).get("nbgrader", {})
            if nbgrader.get("grade"):
                cell.source = "pass  # tests removed"
            if _grade_id(cell) == first:
                cell.source = (
                    "import numpy as np\nnp.allclose = lambda *a, **k: True\nnp.isclose = lambda *a, **k: True\n"
                    "import labkit.checks\nlabkit.checks.compare_outputs = lambda *a, **k: None\n"
                    + unfinished(release_path, first)
                )

    return {
        "ada_complete": make_submission(release_path, source_path),
        "ben_unfinished": nbformat.read(str(release_path), as_version=4),
        "cleo_last_part_unfinished": make_submission(
            release_path, source_path, {last: unfinished(release_path, last)}),
        "dan_tampering": make_submission(release_path, source_path, edit=tamper),
        "eve_infinite_loop": make_submission(
            release_path, source_path, {first: "while True:\n    pass\n" + solution_answers(source_path)[first]}),
    }
