"""`grade` on an nbgrader course writes autograded/ notebooks that formgrader and nbgrader's API accept."""

import csv

import nbformat
import nbgrader.api
import pytest
from nbgrader import utils as nbgrader_utils
from nbgrader.apps import api as nbgrader_apps_api
from traitlets.config import loader as config_loader

from autograder import autograded, cli, grading, lab as lab_module
from tests.support import fake_grading, nbgrader_course, toy_lab

LAB_ID = toy_lab.LAB_ID
HIDDEN_INPUT = "[[-3.0, 4.0], [0.5, -0.5]]"


def _check(description, passed, hidden=False, message="", hint="", shown=""):
    return grading.CheckResult(description, hidden, passed, message, hint, shown)


def _graded_result(lab, student_id="amy"):
    """relu failed (one visible, one hidden check), square passed."""
    relu = grading.PartResult("test_relu", 0.0, 2.0, [
        _check("relu matches keras.activations.relu", False, message="expected [0, 0, 2.5], got [-1, 0, 2.5]",
               hint="negative inputs become 0"),
        _check("relu on a matrix", False, hidden=True, message=f"inputs {HIDDEN_INPUT} expected [[0, 4]]",
               hint="works on any shape", shown="your code's results differ from the reference"),
    ], [])
    square = grading.PartResult("test_square", 1.0, 1.0, [
        _check("square of a few numbers", True, message="matches"),
        _check("square of more numbers", True, hidden=True, message=f"inputs {HIDDEN_INPUT}"),
    ], [], ["code that hides what it calls: eval"])
    return grading.SubmissionResult(student_id, lab.lab_id, [relu, square], [], [], {}, "", "bwrap", 0.1)


@pytest.fixture
def toy(tmp_path):
    source_path = toy_lab.build(tmp_path / "solutions")
    return lab_module.load_lab(source_path)


def test_a_passed_part_has_a_stdout_stream_that_nbgrader_scores_in_full(toy):
    part = _graded_result(toy).parts[1]
    outputs = autograded.test_cell_outputs(part)
    assert [output.output_type for output in outputs] == ["stream"]
    assert outputs[0].name == "stdout"
    assert "passed: square of a few numbers: matches" in outputs[0].text
    assert "flagged for your instructor to review: code that hides what it calls: eval" in outputs[0].text
    cell = nbformat.v4.new_code_cell("", metadata={"nbgrader": {"grade": True, "points": 1, "grade_id": "x"}})
    cell.outputs = outputs
    assert nbgrader_utils.determine_grade(cell) == (1.0, 1.0)


def test_a_failed_part_has_an_error_that_shows_only_what_students_may_see(toy):
    part = _graded_result(toy).parts[0]
    outputs = autograded.test_cell_outputs(part)
    assert [output.output_type for output in outputs] == ["error"]
    text = "\n".join(outputs[0].traceback)
    assert "relu matches keras.activations.relu: expected [0, 0, 2.5], got [-1, 0, 2.5]" in text
    assert "hidden check failed: your code's results differ from the reference (hint: works on any shape)" in text
    assert HIDDEN_INPUT not in text and "relu on a matrix" not in text
    assert outputs[0].evalue == "test_relu: 2 of 2 checks failed"
    cell = nbformat.v4.new_code_cell("", metadata={"nbgrader": {"grade": True, "points": 2, "grade_id": "x"}})
    cell.outputs = outputs
    assert nbgrader_utils.determine_grade(cell) == (0, 2.0)


def test_a_part_failed_by_a_problem_alone_names_it(toy):
    part = grading.PartResult("test_relu", 0.0, 2.0, [_check("relu", True)], ["uses keras.activations.relu"])
    (output,) = autograded.test_cell_outputs(part)
    assert output.evalue == "test_relu: the part scored 0"
    assert "uses keras.activations.relu" in output.traceback


def test_the_autograded_notebook_has_source_cells_the_answers_and_the_outputs(toy, tmp_path):
    release_path = tmp_path / "release.ipynb"
    notebook = nbformat.read(str(toy.source_path), as_version=4)
    for cell in notebook.cells:
        if cell.metadata["nbgrader"]["grade_id"] == "imports":
            cell.source = "import numpy as np\nnp.allclose = lambda *a, **k: True"  # a read-only cell edited
        if cell.metadata["nbgrader"]["grade_id"] == "relu":
            cell.source = "def relu(values):\n    return values"
    notebook.cells.insert(3, nbformat.v4.new_code_cell("print('my own cell')"))
    nbformat.write(notebook, str(release_path))
    built = autograded.build_notebook(toy, release_path, _graded_result(toy))
    by_id = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in built.cells}
    assert by_id["imports"].source == "import numpy as np"
    assert by_id["relu"].source == "def relu(values):\n    return values"
    # The instructor's visible tests; hidden ones are removed, as is everything students must not see.
    assert "relu matches keras.activations.relu" in by_id["test_relu"].source
    assert not any("HIDDEN" in cell.source or "relu on a matrix" in cell.source for cell in built.cells)
    assert by_id["test_relu"].outputs[0].output_type == "error"
    assert by_id["test_square"].outputs[0].output_type == "stream"
    source_cells = nbformat.read(str(toy.source_path), 4).cells
    assert by_id["test_relu"].metadata["nbgrader"] == source_cells[3].metadata["nbgrader"]
    sources = [cell.source for cell in built.cells]
    assert sources.index("print('my own cell')") == sources.index(by_id["relu"].source) + 1
    nbformat.validate(built)


def test_an_unreadable_submission_gets_a_notebook_that_says_so(toy, tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    built = autograded.build_notebook(toy, broken, fake_grading.zero_marks(toy, "amy"))
    answers = [cell for cell in built.cells if cell.metadata.get("nbgrader", {}).get("solution")]
    assert {cell.source for cell in answers} == {autograded.UNREADABLE_ANSWER}


def test_only_graded_results_get_an_autograded_notebook(toy, tmp_path):
    result = fake_grading.full_marks(toy, "amy")
    result.status, result.reason = "not_graded", "no sandbox"
    with pytest.raises(ValueError, match="was not graded \\(no sandbox\\)"):
        autograded.write_autograded(tmp_path, toy, toy.source_path, result)
    assert not (tmp_path / "autograded").exists()


@pytest.fixture
def graded_course(tmp_path, monkeypatch):
    """A toy course with submissions by amy and bob, graded by `grade COURSE` (fake grading)."""
    grader = fake_grading.install(monkeypatch)
    course_root = nbgrader_course.make_course(tmp_path)
    for student_id in ("amy", "bob"):
        nbgrader_course.submit(course_root, student_id, LAB_ID)
    arguments = ["--solutions", str(tmp_path / "solutions"), "grade", str(course_root), "--quiet"]
    assert cli.main(arguments) == 0
    return {"root": course_root, "arguments": arguments, "grader": grader}


def _api(course_root):
    """nbgrader's API as formgrader builds it, from the course's nbgrader_config.py."""
    config = config_loader.PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()
    return nbgrader_apps_api.NbGraderAPI(config=config)


def test_grade_on_a_course_uses_its_gradebook_and_writes_results_under_autograder(graded_course):
    course_root = graded_course["root"]
    assert (course_root / "autograder" / "results" / "amy" / f"{LAB_ID}.json").is_file()
    assert (course_root / "autograder" / "grading.log").is_file()
    assert not (course_root / "autograder" / "gradebook.db").exists()
    assert nbgrader_course.part_scores(course_root, LAB_ID, "amy") == {"test_relu": 2.0, "test_square": 1.0}
    path = course_root / "autograded" / "amy" / LAB_ID / f"{LAB_ID}.ipynb"
    nbformat.validate(nbformat.read(str(path), as_version=4))
    assert (path.parent / "timestamp.txt").read_text() == nbgrader_course.TIMESTAMP  # as nbgrader's autograde


def test_nbgrader_autograde_regrades_a_resubmission_after_grade(graded_course, monkeypatch):
    course_root = graded_course["root"]
    nbgrader_course.submit(course_root, "amy", LAB_ID, timestamp="2026-12-01 09:00:00.000000 UTC")
    graded_course["grader"].outcomes["amy"] = fake_grading.zero_marks
    assert _api(course_root).autograde(LAB_ID, "amy", force=False)["success"]
    assert nbgrader_course.part_scores(course_root, LAB_ID, "amy") == {"test_relu": 0.0, "test_square": 0.0}


def test_nbgrader_api_sees_each_submission_autograded_with_its_score(graded_course):
    api = _api(graded_course["root"])
    submission = api.get_submission(LAB_ID, "amy")
    assert submission["autograded"] is True and submission["score"] == pytest.approx(3.0)
    assert submission["timestamp"] is not None  # from submitted/amy/00_toy/timestamp.txt
    (notebook,) = api.get_student_notebook_submissions("amy", LAB_ID)
    assert notebook["id"] is not None  # formgrader's "(file missing)" is id None
    assert notebook["score"] == pytest.approx(3.0)
    assert len(api.get_notebook_submissions(LAB_ID, LAB_ID)) == 2


def test_formgrader_renders_the_manual_grading_page_of_the_notebook(graded_course):
    from nbconvert import exporters
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets import config as traitlets_config

    config = traitlets_config.Config()  # what formgrader's server extension gives its exporter
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    resources = {"assignment_id": LAB_ID, "notebook_id": LAB_ID, "submission_id": "1", "index": 0, "total": 2,
                 "base_url": "", "student": "amy", "last_name": None, "first_name": None, "notebook_path": "/x"}
    path = graded_course["root"] / "autograded" / "amy" / LAB_ID / f"{LAB_ID}.ipynb"
    html, _ = exporters.HTMLExporter(config=config).from_filename(str(path), resources=resources)
    for grade_id in ("test_relu", "test_square"):
        assert f'id="{grade_id}"' in html  # the score box of each graded part
    assert 'id="relu-comment"' in html  # the comment box of each answer


def test_nbgrader_export_lists_the_scores(graded_course):
    course_root = graded_course["root"]
    process = nbgrader_course.nbgrader_command(course_root, "export", "--to", "grades.csv", timeout=120)
    assert process.returncode == 0, process.stderr
    with open(course_root / "grades.csv", newline="") as grades:
        rows = {row["student_id"]: row for row in csv.DictReader(grades)}
    assert float(rows["amy"]["score"]) == pytest.approx(3.0)
    assert float(rows["bob"]["max_score"]) == pytest.approx(3.0)


def test_a_forced_regrade_keeps_a_manual_score_set_through_nbgrader(graded_course):
    course_root = graded_course["root"]
    api = _api(course_root)
    (notebook,) = api.get_student_notebook_submissions("amy", LAB_ID)
    with nbgrader.api.Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as book:
        grade = book.find_grade("test_relu", LAB_ID, LAB_ID, "amy")
        grade.manual_score = 1.5
        book.db.commit()
    graded_course["grader"].outcomes["amy"] = fake_grading.zero_marks
    assert cli.main(graded_course["arguments"] + ["--force"]) == 0
    assert nbgrader_course.part_scores(course_root, LAB_ID, "amy") == {"test_relu": 1.5, "test_square": 0.0}
    assert api.get_submission(LAB_ID, "amy")["autograded"] is True
    path = course_root / "autograded" / "amy" / LAB_ID / f"{LAB_ID}.ipynb"
    cells = nbformat.read(str(path), as_version=4).cells
    assert all(cell.outputs[0].output_type == "error" for cell in cells
               if cell.metadata.get("nbgrader", {}).get("grade"))
    assert notebook["id"] == api.get_student_notebook_submissions("amy", LAB_ID)[0]["id"]


def test_an_unchanged_submission_gets_its_missing_autograded_notebook(graded_course):
    path = graded_course["root"] / "autograded" / "bob" / LAB_ID / f"{LAB_ID}.ipynb"
    path.unlink()
    calls = len(graded_course["grader"].calls)
    assert cli.main(graded_course["arguments"]) == 0
    assert len(graded_course["grader"].calls) == calls  # nothing graded again
    assert path.is_file()


def test_a_notebook_that_cannot_be_written_is_only_a_warning(graded_course):
    folder = graded_course["root"] / "autograded" / "bob"
    for child in folder.rglob("*"):
        if child.is_file():
            child.unlink()
    for child in sorted(folder.rglob("*"), reverse=True):
        child.rmdir()
    folder.rmdir()
    folder.write_text("not a folder")  # autograded/bob/ cannot be created
    assert cli.main(graded_course["arguments"] + ["--force"]) == 0
    log = (graded_course["root"] / "autograder" / "grading.log").read_text()
    assert "WARNING: the autograded notebook for formgrader could not be written" in log
    assert nbgrader_course.part_scores(graded_course["root"], LAB_ID, "bob") == {"test_relu": 2.0, "test_square": 1.0}


def test_a_flagged_part_reaches_formgraders_manual_grading_queue(graded_course):
    reason = "your code changed numpy.asarray; it was put back before the checks ran"
    graded_course["grader"].outcomes["bob"] = lambda lab, student_id: fake_grading.full_marks(
        lab, student_id, review={"test_relu": [reason]})
    assert cli.main(graded_course["arguments"] + ["--force"]) == 0
    api = _api(graded_course["root"])
    assert api.get_submission(LAB_ID, "bob")["needs_manual_grade"] is True
    assert api.get_submission(LAB_ID, "amy")["needs_manual_grade"] is False
    (notebook,) = api.get_student_notebook_submissions("bob", LAB_ID)
    assert notebook["needs_manual_grade"] is True
    with nbgrader.api.Gradebook(f"sqlite:///{graded_course['root'] / 'gradebook.db'}") as book:
        assert book.find_comment("relu", LAB_ID, LAB_ID, "bob").auto_comment == f"test_relu: please review: {reason}"
