"""Writes grading results into an nbgrader gradebook (gradebook.db).

The assignment structure (notebook and graded cells with their points) is written from the
source notebook, so any nbgrader tool (formgrader, `nbgrader export`) can read the scores.
Grading writes automatic fields only: what an instructor enters in formgrader is never overwritten.
Only this trusted process opens the database; the sandbox cannot see it.
"""

import contextlib
import os
import pathlib
import secrets
import sys

import sqlalchemy
from nbgrader import api as nbgrader_api

from autograder import timestamps


def ensure_alembic_on_path():
    """nbgrader migrates its database by running the `alembic` script installed beside Python."""
    scripts = os.path.dirname(sys.executable)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


def nbgrader_schema_head():
    """The newest revision of nbgrader's database schema, read from its migration scripts in this process.

    It is what `alembic heads` prints: nbgrader starts that command (about 2 s) for every new gradebook.
    """
    from alembic import script as alembic_script
    from nbgrader import dbutil

    heads = alembic_script.ScriptDirectory(dbutil.ALEMBIC_DIR).get_heads()
    if len(heads) != 1:
        raise ValueError(f"nbgrader's migrations in {dbutil.ALEMBIC_DIR} have {len(heads)} heads {heads}, "
                         "not one; reinstall nbgrader")
    return heads[0]


def create_gradebook(database_path):
    """Create an empty nbgrader gradebook where there is none: nbgrader's tables, stamped with the schema head.

    What nbgrader's Gradebook does for a new file, without its `alembic heads` process; the file is
    built beside database_path and linked into place, so it appears complete or not at all.
    """
    database_path = pathlib.Path(database_path)
    head = nbgrader_schema_head()
    temporary = database_path.with_name(f".{database_path.name}.{secrets.token_hex(8)}.tmp")
    engine = sqlalchemy.create_engine(f"sqlite:///{temporary}")
    try:
        with engine.begin() as connection:
            nbgrader_api.Base.metadata.create_all(bind=connection)
            connection.execute(sqlalchemy.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            connection.execute(sqlalchemy.text("INSERT INTO alembic_version (version_num) VALUES (:head)"),
                               {"head": head})
        engine.dispose()
        try:
            os.link(temporary, database_path)  # never replaces a gradebook made meanwhile
        except FileExistsError:
            pass
    finally:
        engine.dispose()
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def open_gradebook(database_path):
    """An nbgrader Gradebook on an SQLite file (created when missing), closed afterwards; ValueError when it
    cannot be opened."""
    ensure_alembic_on_path()
    try:
        if not os.path.lexists(database_path):
            create_gradebook(database_path)
        gradebook = nbgrader_api.Gradebook(f"sqlite:///{database_path}")
    except Exception as error:  # not a database, a newer schema, a locked file, ...
        message = f"the gradebook {database_path} could not be opened ({type(error).__name__}: {error})"
        raise ValueError(message) from error
    try:
        yield gradebook
    finally:
        gradebook.close()


def register_lab(gradebook, lab):
    """Create or update the lab's assignment, notebook and graded cells in the gradebook."""
    notebook_name = lab.notebook_name.removesuffix(".ipynb")
    gradebook.update_or_create_assignment(lab.lab_id)
    gradebook.update_or_create_notebook(notebook_name, lab.lab_id)
    for part in lab.parts:
        gradebook.update_or_create_grade_cell(
            part.grade_id, notebook_name, lab.lab_id, max_score=part.points, cell_type="code"
        )
    for grade_id in lab.answer_ids():
        gradebook.update_or_create_solution_cell(grade_id, notebook_name, lab.lab_id)


def has_submission(gradebook, lab_id, student_id):
    """True when the gradebook holds a submission of this lab by this student."""
    try:
        gradebook.find_submission(lab_id, student_id)
    except nbgrader_api.MissingEntry:
        return False
    return True


def _comment_cells(lab):
    """Part grade_id -> the answer cell it grades (the last one above it), whose Comment holds its review notes."""
    found, answer = {}, None
    for cell in lab.cells:
        if cell.role == "answer":
            answer = cell.grade_id
        elif cell.role == "test":
            found[cell.grade_id] = answer
    return found


def _find_or_add(find, add):
    """An existing gradebook row, or the one add() makes (added to the session, not committed)."""
    try:
        return find()
    except nbgrader_api.MissingEntry:
        return add()


def _student(gradebook, student_id):
    def add():
        student = nbgrader_api.Student(id=student_id)
        gradebook.db.add(student)
        return student

    return _find_or_add(lambda: gradebook.find_student(student_id), add)


def _add_submission(gradebook, lab_id, student_id):
    """What nbgrader's add_submission creates, without its commit: one result is one transaction."""
    with gradebook.db.no_autoflush:
        submission = nbgrader_api.SubmittedAssignment(assignment=gradebook.find_assignment(lab_id),
                                                      student=_student(gradebook, student_id))
        rows = [submission]
        for notebook in submission.assignment.notebooks:
            submitted = nbgrader_api.SubmittedNotebook(assignment=submission, notebook=notebook)
            rows.append(submitted)
            rows += [nbgrader_api.Grade(cell_id=cell.id, notebook=submitted)
                     for cell in notebook.grade_cells + notebook.task_cells]
            rows += [nbgrader_api.Comment(cell_id=cell.id, notebook=submitted)
                     for cell in notebook.solution_cells + notebook.task_cells]
        gradebook.db.add_all(rows)
    gradebook.db.flush()
    return submission


def _new_row(gradebook, row_class, cell, notebook_name, lab_id, student_id):
    """A Grade or Comment for a cell added to the lab after this submission was first recorded."""
    notebook = gradebook.find_submission_notebook(notebook_name, lab_id, student_id)
    with gradebook.db.no_autoflush:
        row = row_class(cell_id=cell.id, notebook=notebook)
        gradebook.db.add(row)
    return row


def _grade(gradebook, notebook_name, lab_id, student_id, grade_id):
    return _find_or_add(
        lambda: gradebook.find_grade(grade_id, notebook_name, lab_id, student_id),
        lambda: _new_row(gradebook, nbgrader_api.Grade, gradebook.find_grade_cell(grade_id, notebook_name, lab_id),
                         notebook_name, lab_id, student_id),
    )


def _comment(gradebook, notebook_name, lab_id, student_id, grade_id):
    return _find_or_add(
        lambda: gradebook.find_comment(grade_id, notebook_name, lab_id, student_id),
        lambda: _new_row(gradebook, nbgrader_api.Comment,
                         gradebook.find_solution_cell(grade_id, notebook_name, lab_id), notebook_name, lab_id,
                         student_id),
    )


def _add_submitted_notebook(gradebook, submission, notebook_name, lab_id):
    """The notebook of a submission made before the lab's notebook was registered (an extension granted early)."""
    with gradebook.db.no_autoflush:
        notebook = nbgrader_api.SubmittedNotebook(assignment=submission,
                                                  notebook=gradebook.find_notebook(notebook_name, lab_id))
        gradebook.db.add(notebook)
    gradebook.db.flush()
    return notebook


def _record_lateness(gradebook, submission, notebook_name, lab_id, result):
    """The submission's timestamp (an earlier one stays when none is known) and the notebook's late penalty,
    where nbgrader keeps them (None when not late, as nbgrader's AssignLatePenalties leaves it)."""
    if result.timestamp:
        submission.timestamp = timestamps.parse_timestamp(result.timestamp)
    notebook = _find_or_add(lambda: gradebook.find_submission_notebook(notebook_name, lab_id, result.student_id),
                            lambda: _add_submitted_notebook(gradebook, submission, notebook_name, lab_id))
    notebook.late_submission_penalty = result.late_penalty if result.seconds_late > 0 and result.late_penalty else None


def record_result(gradebook, lab, result):
    """Store one graded submission's part scores as nbgrader auto scores; returns lines for the log.

    Only automatic fields change: a manual score, extra credit or manual comment set in
    formgrader stays (a kept manual score that differs from the new auto score is logged).
    A part with review reasons is flagged for manual grading, with the reasons as the auto
    comment of its answer cell; a regrade without them clears that auto comment, and the flag
    unless a manual score is set. Everything is one transaction: committed at the end, or not at all.
    """
    if not result.graded:
        raise ValueError(f"{result.student_id} {result.lab_id} was not graded ({result.reason}); "
                         "only graded results go into the gradebook")
    notebook_name = lab.notebook_name.removesuffix(".ipynb")
    submission = _find_or_add(lambda: gradebook.find_submission(lab.lab_id, result.student_id),
                              lambda: _add_submission(gradebook, lab.lab_id, result.student_id))
    _record_lateness(gradebook, submission, notebook_name, lab.lab_id, result)
    log_lines = []
    review_notes = {}  # answer cell grade_id -> review reasons of the parts it answers
    comment_cells = _comment_cells(lab)
    for part in result.parts:
        grade = _grade(gradebook, notebook_name, lab.lab_id, result.student_id, part.grade_id)
        grade.auto_score = part.score
        if grade.manual_score is not None and grade.manual_score != part.score:
            log_lines.append(f"{result.student_id} {result.lab_id} {part.grade_id}: kept manual score "
                             f"{grade.manual_score:g} (new automatic score {part.score:g})")
        if part.review:
            grade.needs_manual_grade = True
        elif grade.manual_score is None:
            grade.needs_manual_grade = False
        answer_id = comment_cells.get(part.grade_id)
        if answer_id is not None:
            reasons = review_notes.setdefault(answer_id, [])
            reasons += [f"{part.grade_id}: please review: {reason}" for reason in part.review]
    for answer_id, reasons in review_notes.items():
        comment = _comment(gradebook, notebook_name, lab.lab_id, result.student_id, answer_id)
        comment.auto_comment = "\n".join(reasons) or None
    gradebook.db.commit()
    return log_lines
