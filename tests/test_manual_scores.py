"""Instructor data in the gradebook is never overwritten by a regrade; review reasons reach formgrader."""

import dataclasses

import nbgrader.api
import pytest

from autograder import cli, gradebook, lab as lab_module
from tests.support import fake_grading, toy_lab

LAB_ID = toy_lab.LAB_ID


@pytest.fixture
def course(tmp_path, monkeypatch):
    """The toy lab, submissions by amy and bob, graded once (fake grading: full marks)."""
    grader = fake_grading.install(monkeypatch)
    source_path = toy_lab.build(tmp_path / "solutions")
    fake_grading.write_submissions(tmp_path / "submissions", source_path, ["amy", "bob"])
    arguments = ["--solutions", str(tmp_path / "solutions"), "grade", str(tmp_path / "submissions"),
                 "--output", str(tmp_path / "grading"), "--quiet"]
    assert cli.main(arguments) == 0
    return {"arguments": arguments, "database": tmp_path / "grading" / "gradebook.db",
            "log": tmp_path / "grading" / "grading.log", "grader": grader, "lab": lab_module.load_lab(source_path)}


def regrade(course):
    assert cli.main(course["arguments"] + ["--force"]) == 0


def open_nbgrader(course):
    """The gradebook as formgrader opens it: nbgrader's own API."""
    return nbgrader.api.Gradebook(f"sqlite:///{course['database']}")


def test_a_regrade_keeps_manual_score_extra_credit_and_comment(course):
    with open_nbgrader(course) as book:
        grade = book.find_grade("test_relu", LAB_ID, LAB_ID, "amy")
        grade.manual_score = 1.5
        grade.extra_credit = 0.5
        grade.needs_manual_grade = False
        book.find_comment("relu", LAB_ID, LAB_ID, "amy").manual_comment = "Good idea, one sign is off."
        book.db.commit()
    course["grader"].outcomes["amy"] = fake_grading.zero_marks
    regrade(course)
    with open_nbgrader(course) as book:
        grade = book.find_grade("test_relu", LAB_ID, LAB_ID, "amy")
        assert (grade.auto_score, grade.manual_score, grade.extra_credit) == (0.0, 1.5, 0.5)
        assert grade.needs_manual_grade is False
        assert book.find_comment("relu", LAB_ID, LAB_ID, "amy").manual_comment == "Good idea, one sign is off."
        assert book.find_submission(LAB_ID, "amy").score == pytest.approx(2.0)  # manual 1.5 + 0.5 extra, square 0
        assert book.find_submission(LAB_ID, "bob").score == pytest.approx(3.0)
    log = course["log"].read_text()
    assert "amy 00_toy test_relu: kept manual score 1.5 (new automatic score 0)" in log


def test_a_manual_score_equal_to_the_new_auto_score_is_not_logged(course):
    with open_nbgrader(course) as book:
        book.find_grade("test_square", LAB_ID, LAB_ID, "bob").manual_score = 1.0
        book.db.commit()
    regrade(course)
    assert "kept manual score" not in course["log"].read_text()


def test_review_reasons_flag_the_part_for_manual_grading(course):
    reason = "the answer changes a global setting the checks cannot see"
    course["grader"].outcomes["bob"] = lambda lab, student_id: fake_grading.full_marks(
        lab, student_id, review={"test_square": [reason]})
    regrade(course)
    with open_nbgrader(course) as book:
        grade = book.find_grade("test_square", LAB_ID, LAB_ID, "bob")
        assert grade.needs_manual_grade is True
        assert grade.auto_score == 1.0  # the automatic score is kept
        comment = book.find_comment("square", LAB_ID, LAB_ID, "bob")
        assert comment.auto_comment == f"test_square: please review: {reason}"
        assert book.find_grade("test_relu", LAB_ID, LAB_ID, "bob").needs_manual_grade is False
        assert book.find_comment("relu", LAB_ID, LAB_ID, "bob").auto_comment is None
        book.find_comment("square", LAB_ID, LAB_ID, "bob").manual_comment = "Checked: fine."
        book.db.commit()
    assert f"test_square: review: {reason}" in course["log"].read_text()
    del course["grader"].outcomes["bob"]
    regrade(course)
    with open_nbgrader(course) as book:
        assert book.find_grade("test_square", LAB_ID, LAB_ID, "bob").needs_manual_grade is False
        comment = book.find_comment("square", LAB_ID, LAB_ID, "bob")
        assert (comment.auto_comment, comment.manual_comment) == (None, "Checked: fine.")


def test_a_manual_score_keeps_the_flag_as_the_instructor_left_it(course):
    with open_nbgrader(course) as book:
        grade = book.find_grade("test_relu", LAB_ID, LAB_ID, "amy")
        grade.manual_score, grade.needs_manual_grade = 2.0, True
        book.db.commit()
    regrade(course)
    with open_nbgrader(course) as book:
        assert book.find_grade("test_relu", LAB_ID, LAB_ID, "amy").needs_manual_grade is True


def test_only_graded_results_go_into_the_gradebook(course):
    result = dataclasses.replace(fake_grading.full_marks(course["lab"], "amy"), status="not_graded",
                                 reason="no sandbox")
    with gradebook.open_gradebook(course["database"]) as book:
        with pytest.raises(ValueError, match="was not graded \\(no sandbox\\)"):
            gradebook.record_result(book, course["lab"], result)


def test_a_part_added_to_the_lab_after_the_first_grading_is_recorded(course):
    extra_part = lab_module.Part("test_extra", 1.0, ())
    lab = dataclasses.replace(course["lab"], parts=course["lab"].parts + (extra_part,),
                              cells=course["lab"].cells + (lab_module.SourceCell("test_extra", "test", ""),))
    with gradebook.open_gradebook(course["database"]) as book:
        gradebook.register_lab(book, lab)
        gradebook.record_result(book, lab, fake_grading.full_marks(lab, "amy"))
    with open_nbgrader(course) as book:
        assert book.find_grade("test_extra", LAB_ID, LAB_ID, "amy").auto_score == 1.0
        assert book.find_submission(LAB_ID, "amy").score == pytest.approx(4.0)
