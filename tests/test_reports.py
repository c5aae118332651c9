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


# ---------------------------------------------------------------------------
# Feedback polish: part titles, timestamps and lateness, unattempted parts, stopped cells and checks.


def toy_outline(tmp_path):
    """The LabOutline of the toy lab, with a heading above each answer."""
    import nbformat

    from tests.support import toy_lab

    path = toy_lab.build(tmp_path / "solutions")
    notebook = nbformat.read(str(path), as_version=4)
    notebook.cells.insert(2, nbformat.v4.new_markdown_cell("## Part 1 — Rectifiers\n### Your task: `relu`"))
    notebook.cells.insert(5, nbformat.v4.new_markdown_cell("### Your task: squares"))
    written_answer = nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\n# The model answer\n### END SOLUTION")
    written_answer.metadata["nbgrader"] = {"grade_id": "essay", "solution": True, "grade": False, "locked": False}
    notebook.cells.insert(6, written_answer)  # a written answer: its text must never become a title
    nbformat.write(notebook, str(path))
    return reports.read_outline(path)


def test_read_outline_titles_parts_from_the_headings_above_their_answers(tmp_path):
    outline = toy_outline(tmp_path)
    assert outline.titles == {"test_relu": "Part 1 — Rectifiers › Your task: `relu`",
                              "test_square": "Part 1 — Rectifiers › Your task: squares"}
    assert outline.answers == {"test_relu": ("relu",), "test_square": ("square",)}
    assert reports.lab_outlines(tmp_path / "solutions") == {"00_toy": outline}
    with pytest.raises(ValueError, match="could not be read"):
        reports.read_outline(tmp_path / "absent.ipynb")


def test_read_outline_of_a_real_lab():
    outline = reports.read_outline("solutions/01_optimization_basics/01_optimization_basics.ipynb")
    title = outline.titles["test_gradient_descent"]
    assert title.startswith("Part 1") and "`gradient_descent`" in title and " › " in title
    assert outline.answers["test_gradient_descent"] == ("gradient_descent",)


def test_feedback_uses_part_titles_and_keeps_the_id(tmp_path):
    page = reports.feedback_html(make_result(), toy_outline(tmp_path))
    assert "<td>Part 1 — Rectifiers › Your task: `relu`<br><small>test_relu</small></td><td>2 / 2</td>" in page


def test_feedback_shows_the_timestamp_and_the_late_penalty():
    result = dataclasses.replace(make_result(), timestamp="2026-01-15 13:30:00.000000 UTC", seconds_late=5400.0,
                                 late_penalty=1.0)
    page = reports.feedback_html(result)
    assert "<p>Submitted: 2026-01-15 13:30:00.000000 UTC</p>" in page
    assert "submitted 1.5 hours after the due date: late penalty of 1 point; score after the penalty: 1 / 3" in page
    on_time = reports.feedback_html(dataclasses.replace(make_result(), timestamp="2026-01-15 11:00:00.000000 UTC"))
    assert "after the due date" not in on_time and "Submitted: 2026-01-15 11:00" in on_time


def unattempted_square(result):
    square = result.parts[1]
    square.problems = []
    square.checks = [
        dataclasses.replace(square.checks[0], message="your code raised NotImplementedError (in square, line 3)"),
        dataclasses.replace(square.checks[1], shown="your code raised NotImplementedError at cell `square`, line 3: "
                                                    "raise NotImplementedError()"),
    ]
    return result


def test_an_unattempted_part_is_one_collapsed_line_with_its_hints():
    page = reports.feedback_html(unattempted_square(make_result()))
    assert page.count("<details>") == 1
    assert ("<details><summary>not attempted yet: the answer still raises NotImplementedError (2 checks not passed)"
            "</summary><ul><li>multiply &lt;each&gt; value by itself</li><li>the hidden hint</li></ul>"
            "</details>") in page
    assert "your code raised NotImplementedError" not in page


def test_a_stopped_answer_cell_is_named_instead_of_not_defined_errors(tmp_path):
    result = make_result()
    square = result.parts[1]
    square.problems = []
    square.checks = [dataclasses.replace(check, message="your code raised NameError: `square` is not defined. Run "
                                                        "the cell that defines it (and the cells above it) first.",
                                         shown="your code raised NameError")
                     for check in square.checks]
    result.cell_errors = {"square": "stopped: it exceeded the 10 s time limit"}
    result.incidents = ["cell `square` was stopped (it exceeded the 10 s time limit); it was skipped and grading "
                        "went on", "a check was stopped (it used more than 2000 MB of memory); grading went on"]
    page = reports.feedback_html(result, toy_outline(tmp_path))
    assert ("cell `square` was stopped after the 10 s time limit, so what it defines was never checked "
            "(2 checks not passed)") in page
    assert "is not defined" not in page
    assert page.count("cell `square` was stopped after the 10 s time limit; it was skipped and grading went on") == 1
    assert "a check was stopped because it used more than 2000 MB of memory; grading went on" in page
    assert "exceeded the 10 s" not in page


@pytest.mark.parametrize("reason, wording", [
    ("stopped: it exceeded the 30 s time limit", "stopped after the 30 s time limit"),
    ("stopped: the whole notebook exceeded its 300 s time limit",
     "stopped after the whole notebook's 300 s time limit"),
    ("stopped: it used more than 2000 MB of memory", "stopped because it used more than 2000 MB of memory"),
    ("stopped: the process ended unexpectedly (exit status 3)",
     "stopped because the Python process ended while it ran (exit status 3): the code exited or crashed it"),
    ("stopped: it ran more than 256 threads", "stopped: it ran more than 256 threads"),
])
def test_describe_stop(reason, wording):
    assert reports.describe_stop(reason) == wording


def test_a_stopped_check_says_why():
    result = make_result(relu_passed=False)
    relu = result.parts[0]
    relu.checks[0] = dataclasses.replace(relu.checks[0], passed=False,
                                         message="stopped: it exceeded the 30 s time limit")
    relu.checks[1] = dataclasses.replace(relu.checks[1], shown="stopped: it used more than 2000 MB of memory")
    page = reports.feedback_html(result)
    assert "relu matches keras.activations.relu: this check was stopped after the 30 s time limit" in page
    assert "hidden check failed: it was stopped because it used more than 2000 MB of memory" in page


# ---------------------------------------------------------------------------
# Feedback in nbgrader's layout.


def test_write_course_feedback_copies_what_release_feedback_reads(tmp_path):
    submitted = tmp_path / "course" / "submitted" / "ada" / "00_toy"
    submitted.mkdir(parents=True)
    (submitted / "timestamp.txt").write_text("2026-01-15 11:00:00.000000 UTC")
    (submitted / "submission_secret.txt").write_text("s3cret")
    path = reports.write_course_feedback(make_result("ada"), tmp_path / "course")
    assert path == tmp_path / "course" / "feedback" / "ada" / "00_toy" / "00_toy.html"
    assert path.read_text(encoding="utf-8") == reports.feedback_html(make_result("ada"))
    assert (path.parent / "timestamp.txt").read_text() == "2026-01-15 11:00:00.000000 UTC"
    assert (path.parent / "submission_secret.txt").read_text() == "s3cret"
    (tmp_path / "course" / "submitted" / "ben").mkdir()
    ben = reports.write_course_feedback(make_result("ben"), tmp_path / "course")
    assert (ben.parent / "timestamp.txt").read_text() == "unknown"
    assert len((ben.parent / "submission_secret.txt").read_text()) == 128


def test_write_all_feedback_for_a_course(tmp_path):
    batch.save_result(make_result("ada"), tmp_path / "course" / "autograder" / "results")
    (tmp_path / "course" / "submitted" / "ada" / "00_toy").mkdir(parents=True)
    outline_source = tmp_path / "course" / "source"
    toy_outline(tmp_path)
    import shutil

    shutil.copytree(tmp_path / "solutions", outline_source)
    (path,) = batch.write_all_feedback(tmp_path / "course" / "autograder", course=tmp_path / "course")
    assert path == tmp_path / "course" / "autograder" / "feedback" / "ada" / "00_toy.html"
    course_page = tmp_path / "course" / "feedback" / "ada" / "00_toy" / "00_toy.html"
    assert "Part 1 — Rectifiers" in course_page.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="no submitted/ folder"):
        batch.write_all_feedback(tmp_path / "course" / "autograder", course=tmp_path / "elsewhere")


def test_release_feedback_hands_the_feedback_to_the_student(tmp_path, monkeypatch):
    """A real course and exchange: release, fetch, submit, collect, grade, feedback, release and fetch feedback."""
    import os
    import subprocess
    import sys

    from autograder import cli
    from tests.support import fake_grading, toy_lab

    fake_grading.install(monkeypatch)
    course, student, exchange = tmp_path / "course", tmp_path / "student", tmp_path / "exchange"
    for folder in (course, student, exchange):
        folder.mkdir()
    exchange.chmod(0o777)
    common = f"c = get_config()\nc.CourseDirectory.course_id = 'labs'\nc.Exchange.root = {str(exchange)!r}\n"
    (course / "nbgrader_config.py").write_text(
        common + f"c.CourseDirectory.root = {str(course)!r}\n"
                 f"c.CourseDirectory.db_url = 'sqlite:///{course / 'gradebook.db'}'\n")
    (student / "nbgrader_config.py").write_text(common + f"c.Exchange.cache = {str(tmp_path / 'cache')!r}\n")
    toy_lab.build(course / "source")
    environment = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter"),
                       PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))

    def nbgrader(folder, *arguments):
        completed = subprocess.run([sys.executable, "-m", "nbgrader", *arguments], cwd=folder, env=environment,
                                   capture_output=True, text=True, timeout=120)
        assert completed.returncode == 0, completed.stdout + completed.stderr

    nbgrader(course, "generate_assignment", "00_toy")
    nbgrader(course, "release_assignment", "00_toy")
    nbgrader(student, "fetch_assignment", "00_toy")
    nbgrader(student, "submit", "00_toy")
    nbgrader(course, "collect", "00_toy")
    (student_id,) = [folder.name for folder in (course / "submitted").iterdir()]
    assert cli.main(["--solutions", str(course / "source"), "grade", str(course), "--output",
                     str(course / "autograder"), "--quiet"]) == 0
    assert cli.main(["--solutions", str(course / "source"), "feedback", "--course", str(course)]) == 0
    nbgrader(course, "release_feedback", "00_toy")
    nbgrader(student, "fetch_feedback", "00_toy")
    (fetched,) = (student / "00_toy" / "feedback").glob("*/00_toy.html")
    ours = course / "feedback" / student_id / "00_toy" / "00_toy.html"
    assert fetched.read_text(encoding="utf-8") == ours.read_text(encoding="utf-8")
    assert "00_toy: 3 / 3 points" in fetched.read_text(encoding="utf-8")
    submitted_at = (course / "submitted" / student_id / "00_toy" / "timestamp.txt").read_text().strip()
    assert f"Submitted: {submitted_at.removesuffix(' UTC')}" in fetched.read_text(encoding="utf-8")


def test_a_stopped_answer_cell_is_named_even_without_the_lab_outline():
    result = make_result()
    square = result.parts[1]
    square.problems = []
    square.checks[0] = dataclasses.replace(square.checks[0], message="your code raised NameError: `square` is not "
                                                                     "defined. Run the cell that defines it first.")
    result.cell_errors = {"square": "stopped: the process ended unexpectedly (exit status 1)"}
    page = reports.feedback_html(result)
    assert "cell `square` was stopped because the Python process ended while it ran (exit status 1)" in page
    assert "is not defined" not in page


def test_feedback_shows_model_answers_of_discussion_questions_only_when_asked(tmp_path):
    outline = toy_outline(tmp_path)
    assert outline.discussions == (("essay", "### Your task: squares", "# The model answer"),)
    assert "The model answer" not in reports.feedback_html(make_result(), outline)
    page = reports.feedback_html(make_result(), outline, model_answers=True)
    assert "<h2>Discussion questions: model answers</h2>" in page
    assert '<div class="model-answer"># The model answer</div>' in page
    assert "Your task: squares" in page
    path = reports.write_feedback(make_result("ben"), tmp_path / "feedback", outline, model_answers=True)
    assert "The model answer" in path.read_text(encoding="utf-8")


def test_feedback_command_has_a_model_answers_flag_off_by_default():
    from autograder import cli

    parser = cli.build_parser()
    assert parser.parse_args(["feedback"]).model_answers is False
    assert parser.parse_args(["feedback", "--model-answers"]).model_answers is True


# ---------------------------------------------------------------------------
# Failure-aware feedback: checks gated by a failed core check.


def _gated_part():
    """A part whose core check (visible) failed: a visible and a hidden check after it are gated."""
    from autograder import grading, lab as lab_module
    from labkit import checks

    def check(description, core=False):
        made = checks.Check(description, "labkit.function_probes.outputs_on", "relu", expected={"outputs": 0.0},
                            hint=f"hint of {description}")
        return checks.core(made) if core else made

    graded = [lab_module.GradedCheck("k0", check("relu update values", core=True), False),
              lab_module.GradedCheck("k1", check("relu config round trip"), False),
              lab_module.GradedCheck("k2", check("relu secret case"), True)]
    results = [CheckResult("relu update values", False, False, "expected 0, got -1", "hint of relu update values"),
               CheckResult("relu config round trip", False, False, "`displacements`: expected 1, got 2",
                           "every hyperparameter must be stored by get_config"),
               CheckResult("relu secret case", True, False, "expected 7, got 8", "hint of relu secret case",
                           "your code's results differ from the reference")]
    grading._gate(lab_module.Part("test_relu", 2.0, tuple(graded)), results)
    return PartResult("test_relu", 0.0, 2.0, results, [])


def test_grading_gates_the_checks_after_a_failed_core_check():
    part = _gated_part()
    assert [check.gated for check in part.checks] == [
        "", 'not checked until "relu update values" passes', 'not checked until "relu update values" passes']
    assert [check.passed for check in part.checks] == [False, False, False]  # verdicts (and scores) unchanged


def test_feedback_shows_gated_checks_as_not_checked_without_their_hints():
    result = dataclasses.replace(make_result(), parts=[_gated_part()])
    page = reports.feedback_html(result)
    assert "relu update values: expected 0, got -1 — hint: hint of relu update values" in page
    assert "relu config round trip: not checked until &quot;relu update values&quot; passes" in page
    assert "hidden check: not checked until &quot;relu update values&quot; passes" in page
    assert "get_config" not in page and "hint of relu secret case" not in page and "relu secret case" not in page
    assert '<li class="skipped">' in page


def test_autograded_outputs_count_gated_checks_as_not_checked():
    from autograder import autograded

    (output,) = autograded.test_cell_outputs(_gated_part())
    assert output.evalue == "test_relu: 1 of 3 checks failed, 2 not checked until a failed core check passes"
    text = "\n".join(output.traceback)
    assert 'relu config round trip: not checked until "relu update values" passes' in text
    assert "get_config" not in text and "secret" not in text


def test_saved_results_keep_gated_checks(tmp_path):
    result = dataclasses.replace(make_result(), parts=[_gated_part()])
    batch.save_result(result, tmp_path)
    (loaded,) = batch.load_results(tmp_path)
    assert loaded.parts[0].checks[1].gated == 'not checked until "relu update values" passes'
