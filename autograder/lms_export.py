"""Grades for a learning-management system, read from the nbgrader gradebook.

The gradebook holds what instructors set in formgrader (manual scores, extra credit) and the
late penalties, so each lab's score here is nbgrader's: max(0, score - late penalty), as
`nbgrader export` computes it. A lab a student has no graded submission of is left blank,
so an import never overwrites a grade in the LMS with a 0 that was never given.
"""

import csv
import dataclasses
import pathlib

from nbgrader import api as nbgrader_api

from autograder import gradebook as gradebook_module

CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
ROSTER_COLUMNS = ("student_id", "name", "canvas_id", "sis_user_id", "sis_login_id", "section")
POINTS_POSSIBLE = "Points Possible"


@dataclasses.dataclass(frozen=True)
class Grades:
    """Lab scores per student from a gradebook, and what an instructor should know before importing them."""

    labs: list  # lab ids, sorted
    max_scores: dict  # lab id -> points possible
    scores: dict  # (student id, lab id) -> score after the late penalty
    students: list  # student ids with a submission, or in the gradebook's student table, sorted
    names: dict  # student id -> "Last, First" from the gradebook ("" when not set)
    warnings: list


def read_grades(database_path):
    """Grades from an nbgrader gradebook file; ValueError when there is none."""
    database_path = pathlib.Path(database_path)
    if not database_path.is_file():
        raise ValueError(f"there is no gradebook at {database_path}; grade first, or give --gradebook")
    scores, warnings = {}, []
    with gradebook_module.open_gradebook(database_path) as book:
        assignments = sorted(book.assignments, key=lambda assignment: assignment.name)
        labs = [assignment.name for assignment in assignments]
        max_scores = {assignment.name: assignment.max_score for assignment in assignments}
        names = {student.id: ", ".join(part for part in (student.last_name, student.first_name) if part)
                 for student in book.students}
        for lab_id in labs:
            for student_id in names:
                try:
                    submission = book.find_submission(lab_id, student_id)
                except nbgrader_api.MissingEntry:
                    continue
                penalty = submission.late_submission_penalty or 0.0
                scores[(student_id, lab_id)] = max(0.0, submission.score - penalty)
                if submission.needs_manual_grade:
                    warnings.append(f"{student_id} {lab_id} still needs manual grading in formgrader; "
                                    "its score so far is exported")
    return Grades(labs, max_scores, scores, sorted(names), names, warnings)


def read_roster(path):
    """student_id -> roster row (the ROSTER_COLUMNS present) from a CSV; ValueError for a missing file or column."""
    path = pathlib.Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as roster_file:
            reader = csv.DictReader(roster_file)
            rows = list(reader)
            header = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"the roster {path} could not be read ({type(error).__name__}: {error})") from error
    if "student_id" not in header:
        raise ValueError(f"the roster {path} needs a student_id column (the grading id of each student); "
                         f"optional columns: {', '.join(ROSTER_COLUMNS[1:])}")
    roster = {}
    for line_number, row in enumerate(rows, start=2):
        student_id = (row.get("student_id") or "").strip()
        if not student_id:
            raise ValueError(f"the roster {path} line {line_number} has no student_id")
        if student_id in roster:
            raise ValueError(f"the roster {path} lists {student_id} twice (line {line_number})")
        roster[student_id] = {column: (row.get(column) or "").strip() for column in ROSTER_COLUMNS}
    return roster


def _points(value):
    return "" if value is None else f"{value:g}"


def _write_rows(path, rows):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as csv_file:
        csv.writer(csv_file).writerows(rows)
    return path


def canvas_rows(grades, roster=None):
    """(rows, warnings) of a Canvas gradebook import: the five identity columns, then one column per lab.

    With a roster, every roster student gets a row in roster order and its Canvas ids; without
    one, students are matched by SIS User ID and SIS Login ID, both set to the grading id.
    """
    warnings = list(grades.warnings)
    rows = [list(CANVAS_COLUMNS) + grades.labs,
            [POINTS_POSSIBLE, "", "", "", ""] + [_points(grades.max_scores[lab]) for lab in grades.labs]]
    if roster is None:
        roster = {student_id: {"name": grades.names.get(student_id, ""), "sis_user_id": student_id,
                               "sis_login_id": student_id} for student_id in grades.students}
    else:
        unmatched = sorted({student for student, _ in grades.scores} - set(roster))
        warnings += [f"{student_id} has grades but is not in the roster; left out of the Canvas file"
                     for student_id in unmatched]
    for student_id, row in roster.items():
        identity = [row.get("name") or grades.names.get(student_id) or student_id, row.get("canvas_id", ""),
                    row.get("sis_user_id", ""), row.get("sis_login_id", ""), row.get("section", "")]
        rows.append(identity + [_points(grades.scores.get((student_id, lab))) for lab in grades.labs])
    return rows, warnings


def totals_rows(grades):
    """Rows of a per-lab totals CSV: student_id, each lab's score (blank: no graded submission), total, max_total."""
    rows = [["student_id"] + grades.labs + ["total", "max_total"]]
    max_total = sum(grades.max_scores.values())
    for student_id in grades.students:
        scores = [grades.scores.get((student_id, lab)) for lab in grades.labs]
        total = sum(score for score in scores if score is not None)
        rows.append([student_id] + [_points(score) for score in scores] + [_points(total), _points(max_total)])
    return rows


def export(database_path, csv_path, export_format, roster_path=None):
    """Write the Canvas or totals CSV of a gradebook; returns (path, warnings)."""
    if export_format not in ("canvas", "totals"):
        raise ValueError(f"unknown export format {export_format!r}; use canvas or totals")
    if roster_path and export_format != "canvas":
        raise ValueError("--roster applies to --format canvas only")
    grades = read_grades(database_path)
    if export_format == "totals":
        return _write_rows(csv_path, totals_rows(grades)), list(grades.warnings)
    rows, warnings = canvas_rows(grades, read_roster(roster_path) if roster_path else None)
    return _write_rows(csv_path, rows), warnings
