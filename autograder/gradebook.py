"""Writes grading results into an nbgrader gradebook (gradebook.db).

The assignment structure (notebook and graded cells with their points) is written from the
source notebook, so any nbgrader tool (formgrader, `nbgrader export`) can read the scores.
Only this trusted process opens the database; the sandbox cannot see it.
"""

import contextlib
import os
import sys

from nbgrader import api as nbgrader_api


def ensure_alembic_on_path():
    """nbgrader migrates its database by running the `alembic` script installed beside Python."""
    scripts = os.path.dirname(sys.executable)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


@contextlib.contextmanager
def open_gradebook(database_path):
    """An nbgrader Gradebook on an SQLite file, closed afterwards."""
    ensure_alembic_on_path()
    gradebook = nbgrader_api.Gradebook(f"sqlite:///{database_path}")
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


def record_result(gradebook, lab, result):
    """Store one submission's part scores as nbgrader auto scores (a regrade overwrites them)."""
    notebook_name = lab.notebook_name.removesuffix(".ipynb")
    gradebook.update_or_create_student(result.student_id)
    try:
        gradebook.find_submission(lab.lab_id, result.student_id)
    except nbgrader_api.MissingEntry:
        with gradebook.db.no_autoflush:
            gradebook.add_submission(lab.lab_id, result.student_id)
    for part in result.parts:
        grade = gradebook.find_grade(part.grade_id, notebook_name, lab.lab_id, result.student_id)
        grade.auto_score = part.score
        grade.manual_score = None
        grade.needs_manual_grade = False
    gradebook.db.commit()
