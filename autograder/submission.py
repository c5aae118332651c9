"""Turns a student's notebook into the program the sandbox runs, noting any tampering.

Only the student's answer cells and any code cells the student added are taken from the
submission. Read-only setup cells always come from the source notebook, and test cells are
never run in the student's process at all (their checks run as probes), so editing,
deleting, duplicating or re-tagging them changes nothing but a note in the feedback.
A file that cannot be read (a symbolic link, too large, not UTF-8, not JSON, nested too
deeply) is the student's: it scores 0 with the reason in the notes.
"""

import dataclasses
import json
import os
import pathlib
import stat

import nbformat

from autograder import lab as lab_module

# Larger files are refused before reading: a real notebook of these labs is well under 1 MB without outputs.
MAX_NOTEBOOK_BYTES = 20_000_000
SYMBOLIC_LINK_MESSAGE = "the submission is a symbolic link; it was not followed"


class UnreadableNotebook(ValueError):
    """The submitted file cannot be read as a notebook (the student's file, so it scores 0)."""


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


def is_linked(path):
    """True when the submission file, or the folder holding it, is a symbolic link."""
    path = pathlib.Path(path)
    return path.is_symlink() or path.parent.is_symlink()


def read_notebook_bytes(path):
    """The bytes of a submitted file, without following links or reading special or oversized files."""
    if is_linked(path):
        raise UnreadableNotebook(SYMBOLIC_LINK_MESSAGE)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        if os.path.islink(path):  # replaced by a link since the check above
            raise UnreadableNotebook(SYMBOLIC_LINK_MESSAGE) from error
        raise UnreadableNotebook(f"the notebook could not be read ({error.strerror})") from error
    with os.fdopen(descriptor, "rb") as notebook_file:
        status = os.fstat(notebook_file.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise UnreadableNotebook("the notebook could not be read: it is not a regular file")
        if status.st_size > MAX_NOTEBOOK_BYTES:
            raise UnreadableNotebook(
                f"the notebook could not be read: it is {status.st_size / 1e6:.1f} MB, more than the "
                f"{MAX_NOTEBOOK_BYTES / 1e6:.0f} MB a submission may have (clear the outputs and submit again)"
            )
        content = notebook_file.read(MAX_NOTEBOOK_BYTES + 1)
    if len(content) > MAX_NOTEBOOK_BYTES:
        raise UnreadableNotebook("the notebook could not be read: it grew past the size limit while being read")
    return content


def _student_code_cells(path):
    """Code cells of a notebook file as (grade_id or None, source); raises UnreadableNotebook."""
    content = read_notebook_bytes(path)
    try:
        raw = json.loads(content.decode("utf-8"))
        notebook = nbformat.from_dict(raw)
        cells = notebook["cells"]
        if not isinstance(cells, list):
            raise TypeError(f"`cells` is {type(cells).__name__}, not a list")
        return [_code_cell(cell) for cell in cells if isinstance(cell, dict) and cell.get("cell_type") == "code"]
    except UnicodeDecodeError as error:
        raise UnreadableNotebook(f"the notebook could not be read: it is not UTF-8 text ({error})") from error
    except (RecursionError, MemoryError) as error:
        raise UnreadableNotebook("the notebook could not be read as Jupyter JSON: it is nested too deeply") from error
    except (ValueError, KeyError, TypeError) as error:
        raise UnreadableNotebook(
            f"the notebook could not be read as Jupyter JSON ({type(error).__name__}: {error})"
        ) from error


def _code_cell(cell):
    """(grade_id or None, source) of one code cell, whatever the shape of its fields."""
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(str(line) for line in source)
    metadata = cell.get("metadata", {}) if isinstance(cell.get("metadata"), dict) else {}
    nbgrader = metadata.get("nbgrader", {}) if isinstance(metadata.get("nbgrader"), dict) else {}
    grade_id = nbgrader.get("grade_id")
    return grade_id if isinstance(grade_id, str) else None, str(source)


def build_program(lab, notebook_path):
    """The student's program for one lab: setup cells from the source, answers from the student."""
    try:
        student_cells = _student_code_cells(notebook_path)
    except UnreadableNotebook as error:
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
            elif known.editable:  # a "predict first" experiment: editing it is the point, and it never runs here
                pass
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
