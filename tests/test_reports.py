"""Tests for autograder.reports (CSV, feedback HTML, summary) and autograder.batch (discovery, saved results)."""

import csv
import dataclasses

import pytest

from autograder import batch, reports
from autograder.grading import CheckResult, PartResult, SubmissionResult

HIDDEN_DESCRIPTION = "relu on the secret matrix [[-3, 4], [0.5, -0.5]]"
HIDDEN_MESSAGE = "`outputs` at index (0, 0, 0): expected 0, got -3 (max relative error 1.00e+00)"


def make_result(student_id="ada", lab_id="00_toy", relu_passed=True, square_passed=False, output="done"):
    relu = PartResult(
        grade_id="test_relu",
        score=2.0 if relu_passed else 0.0,
        max_score=2.0,
        checks=[
            CheckResult("relu matches keras.activations.relu", False, True, "matches (max relative error 0.0e+00)",
                        "negative inputs become 0"),
            CheckResult(HIDDEN_DESCRIPTION, True, relu_passed, "matches" if relu_passed else HIDDEN_MESSAGE,
                        "works on any shape"),
        ],
        problems=[],
    )
    square = PartResult(
        grade_id="test_square",
        score=1.0 if square_passed else 0.0,
        max_score=1.0,
        checks=[
            CheckResult("square of a few numbers", False, square_passed,
                        "matches" if square_passed else "`outputs` at index (0, 1): expected 4, got <b>-4</b>",
                        "multiply <each> value by itself"),
            CheckResult("square of more numbers [3.0, 0.5]", True, square_passed,
                        "matches" if square_passed else "expected 9, got 6", "the hidden hint"),
        ],
        problems=[] if square_passed else ["`square` uses a Keras built-in & so the part scores 0"],
    )
    return SubmissionResult(
        student_id=student_id,
        lab_id=lab_id,
        parts=[relu, square],
        notes=["the test cell `test_relu` was edited; the original was used"],
        incidents=["<script>alert('incident')</script>"],
        cell_errors={"square": "ZeroDivisionError: division by zero (in square, line 2)"},
        output=output,
        isolation="process",
        seconds=1.25,
    )


# ---------------------------------------------------------------------------
# SubmissionResult scores.


def test_result_scores():
    result = make_result()
    assert result.score == 2.0
    assert result.max_score == 3.0
    assert make_result(square_passed=True).score == 3.0


# ---------------------------------------------------------------------------
# write_csv.


def test_write_csv_columns_and_rows(tmp_path):
    results = [
        make_result("ben", relu_passed=False),
        make_result("ada", lab_id="01_other", square_passed=True),
        make_result("ada"),
    ]
    path = reports.write_csv(results, tmp_path / "out" / "grades.csv")
    assert path == tmp_path / "out" / "grades.csv"
    with open(path, newline="") as csv_file:
        rows = list(csv.reader(csv_file))
    assert rows[0] == ["student", "lab", "part", "points", "max_points"]
    assert rows[1:] == [
        ["ada", "00_toy", "test_relu", "2", "2"],
        ["ada", "00_toy", "test_square", "0", "1"],
        ["ada", "01_other", "test_relu", "2", "2"],
        ["ada", "01_other", "test_square", "1", "1"],
        ["ben", "00_toy", "test_relu", "0", "2"],
        ["ben", "00_toy", "test_square", "0", "1"],
    ]


def test_write_csv_fractional_points(tmp_path):
    result = make_result()
    result.parts[0].score = 1.5
    rows = list(csv.reader(open(reports.write_csv([result], tmp_path / "grades.csv"), newline="")))
    assert rows[1][3] == "1.5"


def test_write_csv_without_results_has_header_only(tmp_path):
    rows = list(csv.reader(open(reports.write_csv([], tmp_path / "grades.csv"), newline="")))
    assert rows == [list(reports.CSV_COLUMNS)]


# ---------------------------------------------------------------------------
# feedback_html.


def test_feedback_shows_score_parts_and_visible_checks():
    page = reports.feedback_html(make_result())
    assert page.startswith("<!DOCTYPE html>")
    assert "<h1>00_toy: 2 / 3 points</h1>" in page
    assert "Student: ada" in page
    assert "<td>test_relu</td><td>2 / 2</td>" in page
    assert "<td>test_square</td><td>0 / 1</td>" in page
    assert "relu matches keras.activations.relu: matches (max relative error 0.0e+00)" in page
    assert "square of a few numbers: `outputs` at index (0, 1): expected 4" in page


def test_feedback_hint_only_for_failed_checks():
    page = reports.feedback_html(make_result())
    assert "negative inputs become 0" not in page  # passed visible check
    assert "works on any shape" not in page  # passed hidden check
    assert "hint: multiply &lt;each&gt; value by itself" in page
    assert "hint: the hidden hint" in page


def test_feedback_escapes_html():
    result = make_result(student_id="ada")
    result.notes.append("<img src=x onerror=alert(1)>")
    page = reports.feedback_html(result)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;incident&#x27;)&lt;/script&gt;" in page
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<b>-4</b>" not in page
    assert "got &lt;b&gt;-4&lt;/b&gt;" in page
    assert "uses a Keras built-in &amp; so the part scores 0" in page


def test_feedback_hidden_checks_reveal_only_verdict_and_hint():
    page = reports.feedback_html(make_result(relu_passed=False))
    assert "hidden check passed" not in page
    assert page.count("hidden check failed") == 2
    assert "hidden check failed — hint: works on any shape" in page
    assert "hidden check failed — hint: the hidden hint" in page
    for secret in (HIDDEN_DESCRIPTION, HIDDEN_MESSAGE, "secret matrix", "expected 0, got -3",
                   "square of more numbers", "[3.0, 0.5]", "expected 9, got 6"):
        assert secret not in page
        assert reports.html.escape(secret) not in page


def test_feedback_hidden_check_passed():
    page = reports.feedback_html(make_result(square_passed=True))
    assert page.count("hidden check passed") == 2
    assert HIDDEN_DESCRIPTION not in page
    assert "square of more numbers" not in page
    assert "the hidden hint" not in page


def test_feedback_lists_notes_incidents_and_cell_errors():
    page = reports.feedback_html(make_result())
    assert "<li>the test cell `test_relu` was edited; the original was used</li>" in page
    assert "cell `square`: ZeroDivisionError: division by zero (in square, line 2)" in page
    assert '<li class="failed">`square` uses a Keras built-in &amp; so the part scores 0</li>' in page


def test_feedback_without_notes_says_none():
    result = dataclasses.replace(make_result(square_passed=True), notes=[], incidents=[], cell_errors={})
    assert "<ul><li>none</li></ul>" in reports.feedback_html(result)


def test_write_feedback(tmp_path):
    path = reports.write_feedback(make_result("ben"), tmp_path / "feedback")
    assert path == tmp_path / "feedback" / "ben" / "00_toy.html"
    assert path.read_text(encoding="utf-8") == reports.feedback_html(make_result("ben"))


# ---------------------------------------------------------------------------
# summary_table.


def test_summary_table():
    results = [
        make_result("ada", square_passed=True),
        make_result("ada", lab_id="01_other"),
        make_result("benjamin", relu_passed=False),
    ]
    lines = reports.summary_table(results).splitlines()
    assert lines[0].split() == ["student", "00_toy", "01_other", "total"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["ada", "3/3", "2/3", "5/6"]
    assert lines[3].split() == ["benjamin", "0/3", "-", "0/3"]
    assert len(lines) == 4
    # Columns line up: every line has the same column starts.
    assert lines[2].index("3/3") == lines[0].index("00_toy")
    assert lines[3].index("-") == lines[0].index("01_other")


# ---------------------------------------------------------------------------
# batch: find_submissions, save_result and load_results.


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    return path


def test_find_submissions_flat_layout(tmp_path):
    ada = _touch(tmp_path / "ada" / "00_toy.ipynb")
    ben_first = _touch(tmp_path / "ben.smith@uni" / "00_toy.ipynb")
    ben_second = _touch(tmp_path / "ben.smith@uni" / "01_other.ipynb")
    _touch(tmp_path / "ada" / "99_unknown.ipynb")
    _touch(tmp_path / "ada" / "notes.txt")
    (tmp_path / "cleo").mkdir()
    _touch(tmp_path / "stray.ipynb")
    found = batch.find_submissions(tmp_path, ["00_toy", "01_other"])
    assert found == [
        batch.Submission("ada", "00_toy", ada),
        batch.Submission("ben.smith@uni", "00_toy", ben_first),
        batch.Submission("ben.smith@uni", "01_other", ben_second),
    ]


def test_find_submissions_nbgrader_layout(tmp_path):
    ada = _touch(tmp_path / "submitted" / "ada" / "00_toy" / "00_toy.ipynb")
    ben = _touch(tmp_path / "submitted" / "ben" / "00_toy" / "00_toy.ipynb")
    _touch(tmp_path / "submitted" / "ben" / "00_toy" / "other.ipynb")
    _touch(tmp_path / "source" / "00_toy" / "00_toy.ipynb")  # nbgrader's own folders are not students
    found = batch.find_submissions(tmp_path, ["00_toy"])
    assert found == [batch.Submission("ada", "00_toy", ada), batch.Submission("ben", "00_toy", ben)]


def test_find_submissions_prefers_flat_file_in_a_student_folder(tmp_path):
    flat = _touch(tmp_path / "ada" / "00_toy.ipynb")
    _touch(tmp_path / "ada" / "00_toy" / "00_toy.ipynb")
    assert batch.find_submissions(tmp_path, ["00_toy"]) == [batch.Submission("ada", "00_toy", flat)]


@pytest.mark.parametrize("name", [".hidden", "_private", "-dash", "has space", "semi;colon", "dollar$", "ünï"])
def test_find_submissions_ignores_unsafe_folder_names(tmp_path, name):
    _touch(tmp_path / name / "00_toy.ipynb")
    ada = _touch(tmp_path / "ada" / "00_toy.ipynb")
    assert batch.find_submissions(tmp_path, ["00_toy"]) == [batch.Submission("ada", "00_toy", ada)]


def test_find_submissions_missing_folder_raises(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        batch.find_submissions(tmp_path / "absent", ["00_toy"])
    _touch(tmp_path / "file.txt")
    with pytest.raises(ValueError):
        batch.find_submissions(tmp_path / "file.txt", ["00_toy"])


def test_find_submissions_empty_folder(tmp_path):
    assert batch.find_submissions(tmp_path, ["00_toy"]) == []


def test_save_and_load_results_round_trip(tmp_path):
    results = [make_result("ada"), make_result("ben", lab_id="01_other", relu_passed=False, square_passed=True)]
    paths = [batch.save_result(result, tmp_path / "results") for result in results]
    assert paths == [tmp_path / "results" / "ada" / "00_toy.json", tmp_path / "results" / "ben" / "01_other.json"]
    loaded = batch.load_results(tmp_path / "results")
    assert loaded == results
    assert isinstance(loaded[0].parts[0], PartResult)
    assert isinstance(loaded[0].parts[0].checks[1], CheckResult)
    assert loaded[0].parts[0].checks[1].hidden is True
    assert loaded[1].score == 1.0


def test_save_result_keeps_the_end_of_long_output(tmp_path):
    output = "start " + "x" * 30_000 + " the end"
    batch.save_result(make_result(output=output), tmp_path)
    (loaded,) = batch.load_results(tmp_path)
    assert len(loaded.output) == 20_000
    assert loaded.output.endswith(" the end")
    assert "start" not in loaded.output


def test_load_results_of_empty_folder(tmp_path):
    assert batch.load_results(tmp_path) == []
    assert batch.load_results(tmp_path / "absent") == []


def test_export_csv_and_feedback_from_saved_results(tmp_path):
    batch.save_result(make_result("ada"), tmp_path / "grading" / "results")
    csv_path = batch.export_csv(tmp_path / "grading")
    assert csv_path == tmp_path / "grading" / "grades.csv"
    assert csv_path.read_text().splitlines()[1] == "ada,00_toy,test_relu,2,2"
    (feedback,) = batch.write_all_feedback(tmp_path / "grading")
    assert feedback == tmp_path / "grading" / "feedback" / "ada" / "00_toy.html"


def test_feedback_shows_what_a_hidden_error_may_show_and_review_flags():
    result = make_result(relu_passed=False)
    relu = result.parts[0]
    relu.checks[1] = dataclasses.replace(relu.checks[1], message="ValueError: LEAK [[-3.0, 4.0]]",
                                         shown="your code raised ValueError at cell `relu`, line 2: raise ValueError(x)")
    relu.review.append("cell `relu` line 3: exec(...) runs code built from text")
    page = reports.feedback_html(result)
    assert "hidden check failed: your code raised ValueError at cell `relu`, line 2" in page
    assert "LEAK" not in page and "-3.0" not in page
    assert "flagged for your instructor to review: cell `relu` line 3: exec(...)" in page
