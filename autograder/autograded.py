"""nbgrader's autograded notebooks, written from the project's trusted grading results.

formgrader lists a submission as graded, and opens it, only when
``autograded/<student>/<lab>/<lab>.ipynb`` exists. This module writes that notebook the way
nbgrader's autograde would: read-only and test cells from the source notebook, the student's
answer cells, and on each test cell outputs that nbgrader scores as the grader did (a stream
when the part passed, an error when it failed). Outputs show only what students may see.
"""

import os
import pathlib
import shutil
import tempfile

import nbformat

from autograder import submission

FAILED_PART_ERROR = "PartFailed"
TIMESTAMP_FILE = "timestamp.txt"
UNREADABLE_ANSWER = "# The submitted notebook could not be read, so no answer is shown here.\n"


def _check_line(check):
    """What a student may read of one check: its message when visible; for a hidden one only `shown` and the hint."""
    if check.gated:  # an earlier core check failed: its own verdict and hint would mislead
        return f"{'hidden check' if check.hidden else check.description}: {check.gated}"
    mark = "passed" if check.passed else "failed"
    if check.hidden:
        text = f"hidden check {mark}"
        if not check.passed and check.shown:
            text += f": {check.shown}"
    else:
        text = f"{check.description}: {check.message}" if check.message else f"{check.description}: {mark}"
    if not check.passed and check.hint:
        text += f" (hint: {check.hint})"
    return text


def test_cell_outputs(part):
    """The outputs of a graded test cell: a stdout stream when the part earned its points, else an error."""
    review_lines = [f"flagged for your instructor to review: {reason}" for reason in part.review]
    if part.score >= part.max_score:
        lines = [f"passed: {_check_line(check)}" for check in part.checks] + review_lines
        text = "\n".join(lines or ["passed"]) + "\n"
        return [nbformat.v4.new_output("stream", name="stdout", text=text)]
    gated = [check for check in part.checks if check.gated]
    failed = [check for check in part.checks if not check.passed and not check.gated]
    lines = [_check_line(check) for check in part.checks if check.gated or not check.passed]
    lines += list(part.problems) + review_lines
    summary = f"{len(failed)} of {len(part.checks)} checks failed" if failed else "the part scored 0"
    if failed and gated:
        summary += f", {len(gated)} not checked until a failed core check passes"
    return [nbformat.v4.new_output("error", ename=FAILED_PART_ERROR, evalue=f"{part.grade_id}: {summary}",
                                   traceback=[f"{FAILED_PART_ERROR}: {part.grade_id}: {summary}"] + lines)]


def apply_outputs(notebook, result):
    """Set the outputs of every graded test cell in notebook from result; returns the grade_ids not found."""
    parts = {part.grade_id: part for part in result.parts}
    found = set()
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and grade_id in parts and grade_id not in found:
            cell.outputs = test_cell_outputs(parts[grade_id])
            cell.execution_count = None
            found.add(grade_id)
    return sorted(set(parts) - found)


def _added_cells_after(program):
    """grade_id of the source cell a student's added cell follows (None: the top) -> the added sources."""
    after, anchor = {}, None
    for cell in program.cells:
        if cell["origin"] == "added":
            after.setdefault(anchor, []).append(cell["source"])
        else:
            anchor = cell["label"]
    return after


def _submitted_written_answers(submitted_path):
    """grade_id -> the student's text of each written-answer (markdown solution) cell; {} when unreadable."""
    try:
        submitted = nbformat.read(str(submitted_path), as_version=4)
    except Exception:  # the program builder has already reported why; no written answer is shown
        return {}
    answers = {}
    for cell in submitted.cells:
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        # a written answer is a solution cell, or (a discussion question's, as released) an unlocked markdown cell
        if (cell.get("cell_type") == "markdown" and nbgrader.get("grade_id")
                and (nbgrader.get("solution") or nbgrader.get("locked") is False)):
            answers.setdefault(nbgrader["grade_id"], cell.get("source", ""))
    return answers


def clear_hidden_tests(notebook):
    """Remove hidden-test regions (nbgrader's own ClearHiddenTests), so feedback made from the notebook shows none."""
    from nbgrader import preprocessors as nbgrader_preprocessors

    nbgrader_preprocessors.ClearHiddenTests().preprocess(notebook, {})
    return notebook


def build_notebook(lab, submitted_path, result):
    """The autograded notebook of one graded submission, as an nbformat notebook.

    Everything in it may reach the student (nbgrader's generate_feedback turns it into feedback):
    answers are the student's own, written ones included, and hidden tests are removed.
    """
    source = nbformat.read(str(lab.source_path), as_version=4)
    program = submission.build_program(lab, submitted_path)
    written = _submitted_written_answers(submitted_path)
    added = _added_cells_after(program)
    cells = [nbformat.v4.new_code_cell(text) for text in added.get(None, [])]
    for cell in source.cells:
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = nbgrader.get("grade_id")
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            if nbgrader.get("solution"):
                cell.source = program.answers.get(grade_id, UNREADABLE_ANSWER if not program.readable else "")
        elif nbgrader.get("solution"):  # a written answer: the student's, never the instructor's model answer
            cell.source = written.get(grade_id, "")
        cells.append(cell)
        cells += [nbformat.v4.new_code_cell(text) for text in added.get(grade_id, [])]
    source.cells = cells
    apply_outputs(source, result)
    return clear_hidden_tests(source)


def autograded_path(course_root, student_id, lab):
    """COURSE/autograded/<student>/<lab>/<notebook>.ipynb, where formgrader looks for it."""
    return pathlib.Path(course_root) / "autograded" / student_id / lab.lab_id / lab.notebook_name


def write_autograded(course_root, lab, submitted_path, result):
    """Write the autograded notebook of a graded result atomically; returns its path."""
    if not result.graded:
        raise ValueError(f"{result.student_id} {result.lab_id} was not graded ({result.reason}); "
                         "only graded results get an autograded notebook")
    path = autograded_path(course_root, result.student_id, lab)
    path.parent.mkdir(parents=True, exist_ok=True)
    notebook = build_notebook(lab, submitted_path, result)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as notebook_file:
            notebook_file.write(nbformat.writes(notebook))
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise
    _copy_timestamp(pathlib.Path(submitted_path).parent, path.parent)
    return path


def _copy_timestamp(submitted_folder, autograded_folder):
    """nbgrader's timestamp.txt beside the autograded notebook, as autograde copies it: `nbgrader autograde`
    compares it with the submitted one to see that a resubmission needs grading again."""
    timestamp = submitted_folder / TIMESTAMP_FILE
    if timestamp.is_file() and not timestamp.is_symlink():
        target = autograded_folder / TIMESTAMP_FILE
        target.unlink(missing_ok=True)  # nbgrader leaves its copies read-only
        shutil.copyfile(timestamp, target)
