"""Tests for autograder.lms_export: the Canvas gradebook import and the per-lab totals, from a real gradebook."""

import csv

import nbgrader.api
import pytest

from autograder import cli, lms_export
from tests.support import fake_grading, toy_lab

LAB_ID = toy_lab.LAB_ID


@pytest.fixture
def graded(tmp_path, monkeypatch):
    """Toy-lab grades for ada (3/3, then a manual 1.5 on relu) and ben (0/3); cleo is on the roster only."""
    grader = fake_grading.install(monkeypatch)
    grader.outcomes["ben"] = fake_grading.zero_marks
    source_path = toy_lab.build(tmp_path / "solutions")
    fake_grading.write_submissions(tmp_path / "submissions", source_path, ["ada", "ben"])
    output = tmp_path / "grading"
    assert cli.main(["--solutions", str(tmp_path / "solutions"), "grade", str(tmp_path / "submissions"),
                     "--output", str(output), "--quiet"]) == 0
    with nbgrader.api.Gradebook(f"sqlite:///{output / 'gradebook.db'}") as book:
        book.find_grade("test_relu", LAB_ID, LAB_ID, "ada").manual_score = 1.5
        book.find_student("ada").first_name = "Ada"
        book.find_student("ada").last_name = "Lovelace"
        book.db.commit()
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,canvas_id,sis_user_id,sis_login_id,section\n"
                      "ada,\"Lovelace, Ada\",101,S-1,ada@uni,A\n"
                      "cleo,\"Cleo, C\",103,S-3,cleo@uni,B\n")
    return {"output": output, "roster": roster, "tmp_path": tmp_path}


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as csv_file:
        return list(csv.reader(csv_file))


def test_canvas_export_without_a_roster_matches_students_by_id(graded, capsys):
    assert cli.main(["export", "--output", str(graded["output"]), "--format", "canvas"]) == 0
    rows = read_rows(graded["output"] / "canvas.csv")
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", LAB_ID]
    assert rows[1] == ["Points Possible", "", "", "", "", "3"]
    assert rows[2:] == [["Lovelace, Ada", "", "ada", "ada", "", "2.5"], ["ben", "", "ben", "ben", "", "0"]]
    assert "wrote" in capsys.readouterr().out


def test_canvas_export_with_a_roster(graded, capsys):
    target = graded["tmp_path"] / "out" / "canvas-import.csv"
    assert cli.main(["export", "--output", str(graded["output"]), "--format", "canvas", "--roster",
                     str(graded["roster"]), "--csv", str(target)]) == 0
    rows = read_rows(target)
    assert rows[2:] == [["Lovelace, Ada", "101", "S-1", "ada@uni", "A", "2.5"],
                        ["Cleo, C", "103", "S-3", "cleo@uni", "B", ""]]  # blank: nothing graded, nothing overwritten
    assert "ben has grades but is not in the roster" in capsys.readouterr().err


def test_totals_export(graded):
    assert cli.main(["export", "--output", str(graded["output"]), "--format", "totals"]) == 0
    assert read_rows(graded["output"] / "totals.csv") == [
        ["student_id", LAB_ID, "total", "max_total"], ["ada", "2.5", "2.5", "3"], ["ben", "0", "0", "3"]]


def test_the_default_export_is_still_the_part_scores(graded):
    assert cli.main(["export", "--output", str(graded["output"])]) == 0
    assert read_rows(graded["output"] / "grades.csv")[0] == ["student", "lab", "part", "points", "max_points"]


def test_scores_subtract_the_late_penalty_and_flag_manual_grading(graded):
    with nbgrader.api.Gradebook(f"sqlite:///{graded['output'] / 'gradebook.db'}") as book:
        book.find_submission_notebook(LAB_ID, LAB_ID, "ada").late_submission_penalty = 1.0
        book.find_grade("test_square", LAB_ID, LAB_ID, "ben").needs_manual_grade = True
        book.db.commit()
    grades = lms_export.read_grades(graded["output"] / "gradebook.db")
    assert grades.scores == {("ada", LAB_ID): 1.5, ("ben", LAB_ID): 0.0}
    assert grades.warnings == [f"ben {LAB_ID} still needs manual grading in formgrader; its score so far is exported"]


def test_bad_input_gets_a_clear_error(graded, capsys):
    assert cli.main(["export", "--output", str(graded["tmp_path"] / "nowhere"), "--format", "totals"]) == 2
    assert "there is no gradebook" in capsys.readouterr().err
    bad_roster = graded["tmp_path"] / "bad.csv"
    bad_roster.write_text("name,section\nAda,A\n")
    assert cli.main(["export", "--output", str(graded["output"]), "--format", "canvas", "--roster",
                     str(bad_roster)]) == 2
    assert "needs a student_id column" in capsys.readouterr().err
    assert cli.main(["export", "--output", str(graded["output"]), "--roster", str(graded["roster"])]) == 2
    assert "--roster applies to --format canvas only" in capsys.readouterr().err


def test_read_roster_refuses_duplicates_and_blank_ids(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("student_id,name\nada,Ada\nada,Ada again\n")
    with pytest.raises(ValueError, match="lists ada twice"):
        lms_export.read_roster(path)
    path.write_text("student_id,name\n,Nobody\n")
    with pytest.raises(ValueError, match="line 2 has no student_id"):
        lms_export.read_roster(path)
    with pytest.raises(ValueError, match="could not be read"):
        lms_export.read_roster(tmp_path / "absent.csv")


def test_rows_from_grades_directly():
    grades = lms_export.Grades(labs=["a", "b"], max_scores={"a": 2.0, "b": 3.0},
                               scores={("x", "a"): 2.0, ("y", "b"): 1.5}, students=["x", "y"],
                               names={"x": "", "y": "Why"}, warnings=[])
    assert lms_export.totals_rows(grades)[1:] == [["x", "2", "", "2", "5"], ["y", "", "1.5", "1.5", "5"]]
    rows, warnings = lms_export.canvas_rows(grades)
    assert rows[2:] == [["x", "", "x", "x", "", "2", ""], ["Why", "", "y", "y", "", "", "1.5"]]
    assert warnings == []
    with pytest.raises(ValueError, match="unknown export format"):
        lms_export.export("gradebook.db", "out.csv", "moodle")


def test_export_for_a_course_reads_the_course_gradebook(graded):
    course = graded["tmp_path"] / "course"
    (course / "autograder").mkdir(parents=True)
    (course / "gradebook.db").write_bytes((graded["output"] / "gradebook.db").read_bytes())
    assert cli.main(["export", "--course", str(course), "--format", "totals"]) == 0
    assert read_rows(course / "autograder" / "totals.csv")[1] == ["ada", "2.5", "2.5", "3"]
