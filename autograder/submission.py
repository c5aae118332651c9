"""Turns a student's notebook into the program the sandbox runs, noting any tampering.

Only the student's answer cells and any code cells the student added are taken from the
submission. Read-only setup cells always come from the source notebook, and test cells are
never run in the student's process at all (their checks run as probes), so editing,
deleting, duplicating or re-tagging them changes nothing but a note in the feedback.
"""

import dataclasses
import json

import nbformat

from autograder import lab as lab_module


@dataclasses.dataclass
class Program:
    """Cells to run in order, each {"label", "source", "origin"}, and notes for the feedback."""

    cells: list
    notes: list
    answers: dict  # answer grade_id -> the student's source (for the static scan)
    readable: bool = True


def _normalised(source):
    """Source lines without surrounding blanks, so re-saving a notebook is not an edit."""
    return [line.rstrip() for line in source.strip().splitlines() if line.strip()]


def _student_code_cells(path):
    """Code cells of a notebook file as (grade_id or None, source); raises ValueError if unreadable."""
    try:
        with open(path, encoding="utf-8") as notebook_file:
            raw = json.load(notebook_file)
        notebook = nbformat.from_dict(raw)
        cells = notebook["cells"]
        if not isinstance(cells, list):
            raise TypeError(f"`cells` is {type(cells).__name__}, not a list")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"the notebook could not be read as Jupyter JSON ({type(error).__name__}: {error})") from error
    code_cells = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(line) for line in source)
        metadata = cell.get("metadata", {}) if isinstance(cell.get("metadata"), dict) else {}
        nbgrader = metadata.get("nbgrader", {}) if isinstance(metadata.get("nbgrader"), dict) else {}
        grade_id = nbgrader.get("grade_id")
        code_cells.append((grade_id if isinstance(grade_id, str) else None, str(source)))
    return code_cells


def build_program(lab, notebook_path):
    """The student's program for one lab: setup cells from the source, answers from the student."""
    try:
        student_cells = _student_code_cells(notebook_path)
    except ValueError as error:
        return Program(cells=[], notes=[str(error)], answers={}, readable=False)
    roles = {cell.grade_id: cell for cell in lab.cells}
    answers, notes, seen = {}, [], set()
    added_after = {}  # grade_id of the known cell an added cell follows (None: top) -> cells
    anchor = None
    added_count = 0
    for grade_id, source in student_cells:
        known = roles.get(grade_id)
        if known is not None and grade_id not in seen:
            seen.add(grade_id)
            anchor = grade_id
            if known.role == "answer":
                answers[grade_id] = source
            elif _normalised(source) != _normalised(lab_module.HIDDEN_TESTS.sub("", known.source)):
                kind = "test" if known.role == "test" else "read-only"
                notes.append(f"the {kind} cell `{grade_id}` was edited; the original was used")
        else:
            if known is not None:
                notes.append(f"cell `{grade_id}` appears more than once; the copy runs as your own extra cell")
            added_count += 1
            added_after.setdefault(anchor, []).append(
                {"label": f"extra-{added_count}", "source": source, "origin": "added"}
            )
    for cell in lab.cells:
        if cell.grade_id not in seen:
            what = {"answer": "answer", "test": "test"}.get(cell.role, "read-only")
            notes.append(f"the {what} cell `{cell.grade_id}` is missing from the notebook")
    program_cells = list(added_after.get(None, []))
    for cell in lab.cells:
        if cell.role == "setup":
            program_cells.append({"label": cell.grade_id, "source": cell.source, "origin": "setup"})
        elif cell.role == "answer" and cell.grade_id in answers:
            program_cells.append({"label": cell.grade_id, "source": answers[cell.grade_id], "origin": "answer"})
        program_cells.extend(added_after.get(cell.grade_id, []))
    return Program(cells=program_cells, notes=notes, answers=answers)
