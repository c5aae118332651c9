"""Stand-ins for the sandboxed grading steps, so batch and gradebook behaviour is tested in milliseconds."""

import functools
import pathlib
import shutil
import threading

import nbgrader.api

from autograder import grading, sandbox


def full_marks(lab, student_id, review=None):
    """A graded result with every part of lab at full points; review: part grade_id -> reasons."""
    review = review or {}
    parts = [grading.PartResult(part.grade_id, part.points, part.points, [], [], list(review.get(part.grade_id, [])))
             for part in lab.parts]
    return grading.SubmissionResult(student_id, lab.lab_id, parts, [], [], {}, "", "bwrap", 0.01)


def zero_marks(lab, student_id):
    """A graded result with every part of lab at 0 points."""
    parts = [grading.PartResult(part.grade_id, 0.0, part.points, [], ["wrong"]) for part in lab.parts]
    return grading.SubmissionResult(student_id, lab.lab_id, parts, [], [], {}, "", "bwrap", 0.01)


class FakeGrader:
    """grading.grade_notebook without a sandbox: full marks, unless outcomes[student_id](lab, student_id) says else."""

    def __init__(self):
        self.calls = []
        self.outcomes = {}
        self._lock = threading.Lock()

    def grade_notebook(self, lab, notebook_path, student_id, references, isolation="bwrap"):
        with self._lock:
            self.calls.append(student_id)
        outcome = self.outcomes.get(student_id)
        return outcome(lab, student_id) if outcome else full_marks(lab, student_id)


def install(monkeypatch, check_the_sandbox=False):
    """Replace grading (and, unless check_the_sandbox, the sandbox check) with fakes; returns the FakeGrader."""
    read_alembic_head_once(monkeypatch)
    grader = FakeGrader()
    monkeypatch.setattr(grading, "grade_notebook", grader.grade_notebook)
    monkeypatch.setattr(grading, "compute_references", lambda lab, isolation="bwrap": {})
    if not check_the_sandbox:
        monkeypatch.setattr(sandbox, "resolve_isolation", lambda requested="auto", allow_unsandboxed=False: "bwrap")
    return grader


def write_submissions(folder, source_path, student_ids):
    """<folder>/<student>/<lab_id>.ipynb copies of a notebook, one per student; returns the folder."""
    folder = pathlib.Path(folder)
    source_path = pathlib.Path(source_path)
    for student_id in student_ids:
        target = folder / student_id / f"{source_path.parent.name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source_path, target)
    return folder


@functools.cache
def alembic_head():
    """What `alembic heads` prints for nbgrader's migrations, read in this process.

    nbgrader starts an `alembic heads` process (about a second) each time it creates a gradebook.
    """
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import _temp_alembic_ini

    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as alembic_ini:
        return ScriptDirectory.from_config(Config(alembic_ini)).get_current_head()


def read_alembic_head_once(monkeypatch):
    """Let new gradebooks take nbgrader's schema head from alembic_head() instead of a process."""
    monkeypatch.setattr(nbgrader.api, "get_alembic_version", alembic_head)
