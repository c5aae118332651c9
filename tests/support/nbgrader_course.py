"""A real nbgrader course on the toy lab (or a real lab), with submissions where `nbgrader collect` puts them."""

import os
import pathlib
import subprocess
import sys

import nbgrader.api

from autograder import course, samples
from tests.support import toy_lab

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]
TIMESTAMP = "2026-11-30 12:00:00.000000 UTC"


def make_course(root, lab_ids=None, solutions=None):
    """root/solutions (the toy lab unless solutions is given) and an init-course'd root/course; returns the course."""
    if solutions is None:
        solutions = root / "solutions"
        toy_lab.build(solutions)
    course_root = root / "course"
    course.init_course(course_root, solutions, lab_ids)
    return course_root


def submit(course_root, student_id, lab_id, answers=None, edit=None, timestamp=TIMESTAMP):
    """COURSE/submitted/<student>/<lab>/<lab>.ipynb from the release with answers, and its timestamp.txt."""
    release_path = course_root / "release" / lab_id / f"{lab_id}.ipynb"
    source_path = course_root / "source" / lab_id / f"{lab_id}.ipynb"
    notebook = samples.make_submission(release_path, source_path, answers, edit)
    folder = course_root / "submitted" / student_id / lab_id
    samples.write_notebook(notebook, folder / f"{lab_id}.ipynb")
    if timestamp:
        (folder / "timestamp.txt").write_text(timestamp)
    return folder / f"{lab_id}.ipynb"


def nbgrader_command(course_root, *arguments, timeout=600):
    """Run an nbgrader command in the course folder with this virtualenv's nbgrader; returns the process."""
    environment = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run([sys.executable, "-m", "nbgrader", *arguments], cwd=course_root, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def part_scores(course_root, lab_id, student_id):
    """grade_id -> the score nbgrader reports (manual over auto) for one submission."""
    with nbgrader.api.Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as book:
        submitted = book.find_submission_notebook(lab_id, lab_id, student_id)
        return {grade.name: grade.score for grade in submitted.grades}
