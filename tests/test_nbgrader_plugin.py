"""`nbgrader autograde` in a course made by init-course grades with the project's trusted grading."""

import json

import nbformat
import nbgrader.api
import pytest
from nbgrader.apps import api as nbgrader_apps_api
from traitlets.config import loader as config_loader

from autograder import batch, cli, grading, lab as lab_module, nbgrader_plugin, sandbox
from tests.corpus import toy_adversarial
from tests.support import fake_grading, nbgrader_course, toy_lab

LAB_ID = toy_lab.LAB_ID
REASON = "cell `relu` reaches library modules by name: importlib"


def _api(course_root):
    """nbgrader's API with the course's nbgrader_config.py: what formgrader's Autograde button calls."""
    config = config_loader.PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()
    return nbgrader_apps_api.NbGraderAPI(config=config)


def _gradebook(course_root):
    return nbgrader.api.Gradebook(f"sqlite:///{course_root / 'gradebook.db'}")


def _auto_scores(course_root, student_id):
    """grade_id -> the automatic score nbgrader holds (None: never scored)."""
    with _gradebook(course_root) as book:
        grades = book.find_submission_notebook(LAB_ID, LAB_ID, student_id).grades
        return {grade.name: grade.auto_score for grade in grades}


def _half_marks(lab, student_id):
    """relu failed with one visible and one hidden check; square passed but flagged for review."""
    relu = grading.PartResult("test_relu", 0.0, 2.0, [
        grading.CheckResult("relu matches keras.activations.relu", False, False, "got [-1, 0, 2.5]", "negatives"),
        grading.CheckResult("relu on a matrix", True, False, "inputs [[-3.0, 4.0]] secret", "any shape",
                            "your code's results differ from the reference"),
    ], [])
    square = grading.PartResult("test_square", 1.0, 1.0, [], [], [REASON])
    return grading.SubmissionResult(student_id, lab.lab_id, [relu, square], [], [], {}, "", "bwrap", 0.1)


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A toy course with amy's submission; grading is faked (full marks unless set otherwise)."""
    grader = fake_grading.install(monkeypatch)
    course_root = nbgrader_course.make_course(tmp_path)
    nbgrader_course.submit(course_root, "amy", LAB_ID)
    return {"root": course_root, "grader": grader}


def test_config_lines_replace_execute_and_flag_after_saving_grades():
    text = "\n".join(nbgrader_plugin.config_lines())
    names = list(nbgrader_plugin.AUTOGRADE_PREPROCESSORS)
    assert "nbgrader.preprocessors.Execute" not in names and names[0] == nbgrader_plugin.TRUSTED_GRADING
    assert names.index(nbgrader_plugin.FLAG_FOR_REVIEW) == names.index("nbgrader.preprocessors.SaveAutoGrades") + 1
    assert "c.OverwriteCells.add_missing_cells = True" in text
    namespace = {"c": config_loader.Config()}
    exec(compile(text, "nbgrader_config.py", "exec"), namespace)
    assert namespace["c"].Autograde.autograde_preprocessors == names


def test_autograde_through_the_api_scores_parts_from_the_trusted_result(course):
    course["grader"].outcomes["amy"] = _half_marks
    outcome = _api(course["root"]).autograde(LAB_ID, "amy")
    assert outcome["success"], outcome.get("log")
    assert nbgrader_course.part_scores(course["root"], LAB_ID, "amy") == {"test_relu": 0.0, "test_square": 1.0}
    notebook = nbformat.read(str(course["root"] / "autograded" / "amy" / LAB_ID / f"{LAB_ID}.ipynb"), 4)
    relu_test = next(cell for cell in notebook.cells if cell.metadata["nbgrader"].get("grade_id") == "test_relu")
    text = json.dumps(relu_test.outputs)
    assert "got [-1, 0, 2.5]" in text and "secret" not in text and "relu on a matrix" not in text


def test_the_result_is_kept_for_feedback_and_grade_skips_it_as_unchanged(course, tmp_path):
    assert _api(course["root"]).autograde(LAB_ID, "amy")["success"]
    (result,) = batch.load_results(course["root"] / "autograder" / "results")
    assert (result.student_id, result.score, result.timestamp) == ("amy", 3.0, nbgrader_course.TIMESTAMP)
    calls = len(course["grader"].calls)
    assert cli.main(["--solutions", str(tmp_path / "solutions"), "grade", str(course["root"]), "--quiet"]) == 0
    assert len(course["grader"].calls) == calls


def test_flagged_parts_reach_the_manual_grading_queue_with_the_reason(course):
    course["grader"].outcomes["amy"] = _half_marks
    assert _api(course["root"]).autograde(LAB_ID, "amy")["success"]
    with _gradebook(course["root"]) as book:
        assert book.find_grade("test_square", LAB_ID, LAB_ID, "amy").needs_manual_grade is True
        assert book.find_grade("test_relu", LAB_ID, LAB_ID, "amy").needs_manual_grade is False
        comment = book.find_comment("square", LAB_ID, LAB_ID, "amy").auto_comment
        assert comment == f"test_square: please review: {REASON}"
        assert book.find_submission(LAB_ID, "amy").needs_manual_grade is True


def test_a_manual_score_survives_autograding_again(course):
    assert _api(course["root"]).autograde(LAB_ID, "amy")["success"]
    with _gradebook(course["root"]) as book:
        book.find_grade("test_relu", LAB_ID, LAB_ID, "amy").manual_score = 0.5
        book.db.commit()
    assert _api(course["root"]).autograde(LAB_ID, "amy", force=True)["success"]
    assert nbgrader_course.part_scores(course["root"], LAB_ID, "amy") == {"test_relu": 0.5, "test_square": 1.0}


def test_without_a_sandbox_autograde_fails_and_records_no_score(course, monkeypatch):
    def unavailable(requested="auto", allow_unsandboxed=False):
        assert not allow_unsandboxed
        raise sandbox.SandboxUnavailableError("bubblewrap is not installed")

    monkeypatch.setattr(sandbox, "resolve_isolation", unavailable)
    outcome = _api(course["root"]).autograde(LAB_ID, "amy")
    assert not outcome["success"]
    assert "bubblewrap is not installed" in outcome["log"]
    assert not (course["root"] / "autograded" / "amy" / LAB_ID / f"{LAB_ID}.ipynb").exists()
    assert _auto_scores(course["root"], "amy") == {"test_relu": None, "test_square": None}


def test_a_submission_not_graded_on_the_grader_side_records_no_score(course):
    def not_graded(lab, student_id):
        result = fake_grading.full_marks(lab, student_id)
        result.status, result.reason = "not_graded", "the sandbox did not start"
        return result

    course["grader"].outcomes["amy"] = not_graded
    outcome = _api(course["root"]).autograde(LAB_ID, "amy")
    assert not outcome["success"]
    assert "the sandbox did not start" in outcome["log"]
    assert _auto_scores(course["root"], "amy") == {"test_relu": None, "test_square": None}


def test_a_deleted_test_cell_is_put_back_and_scored(course):
    nbgrader_course.submit(course["root"], "bob", LAB_ID,
                           edit=lambda notebook: toy_adversarial._delete_tests(notebook))
    assert _api(course["root"]).autograde(LAB_ID, "bob")["success"]
    assert nbgrader_course.part_scores(course["root"], LAB_ID, "bob") == {"test_relu": 2.0, "test_square": 1.0}


def test_a_part_zeroed_for_what_the_sandbox_saw_is_flagged_for_review(tmp_path):
    source_path = toy_lab.build(tmp_path / "solutions")
    lab = lab_module.load_lab(source_path)
    lab = lab_module.Lab(**dict(vars(lab), forbidden_kernels={"relu": ["Relu"]}))
    prepared = grading.prepare_submission(lab, source_path, "amy")
    relu_key = next(graded.key for graded in lab.parts[0].checks)
    seen = "cell relu, line 2: ran the TensorFlow kernel Relu"
    job_result = sandbox.JobResult(findings=[{"kind": "kernel", "message": seen, "phase": f"probe:{relu_key}"}])
    result = grading.judge_submission(lab, prepared, job_result, {graded.key: None for graded in lab.all_checks()})
    relu, square = result.parts
    assert relu.score == 0.0 and any(seen in problem for problem in relu.problems)
    assert any(reason.startswith("scored 0 for what the sandbox saw: " + seen) for reason in relu.review)
    assert square.review == []


def test_the_plugin_refuses_to_run_outside_nbgrader():
    preprocessor = nbgrader_plugin.TrustedGrading()
    with pytest.raises(nbgrader_plugin.TrustedGradingError, match="inside nbgrader's Autograde"):
        preprocessor.preprocess(nbformat.v4.new_notebook(), {"nbgrader": {"assignment": LAB_ID, "student": "amy",
                                                                          "notebook": LAB_ID}})
    with pytest.raises(nbgrader_plugin.TrustedGradingError, match="needs TrustedGrading"):
        nbgrader_plugin.FlagForReview().preprocess(nbformat.v4.new_notebook(), {"nbgrader": {}})


def test_lab_paths_follow_the_course_directory(course):
    config = config_loader.PyFileConfigLoader("nbgrader_config.py", path=str(course["root"])).load_config()
    from nbgrader import coursedir

    directory = coursedir.CourseDirectory(config=config)
    source, submitted = nbgrader_plugin.lab_paths(directory, LAB_ID, "amy", LAB_ID)
    assert source == course["root"] / "source" / LAB_ID / f"{LAB_ID}.ipynb"
    assert submitted == course["root"] / "submitted" / "amy" / LAB_ID / f"{LAB_ID}.ipynb"


# The real thing: nbgrader's command line, the sandbox, and the same class graded both ways.

TAMPERED = ("complete", "monkeypatch_numpy", "monkeypatch_checks", "tests_gutted", "tests_deleted")


@pytest.mark.slow
def test_nbgrader_autograde_gives_the_scores_of_grade_and_resists_tampering(tmp_path):
    course_root = nbgrader_course.make_course(tmp_path)
    for name in TAMPERED:
        answers, edit, _ = toy_adversarial.CASES[name]
        nbgrader_course.submit(course_root, name, LAB_ID, answers, edit)
    process = nbgrader_course.nbgrader_command(course_root, "autograde", LAB_ID)
    assert process.returncode == 0, process.stderr[-3000:]
    plugin_scores = {name: nbgrader_course.part_scores(course_root, LAB_ID, name) for name in TAMPERED}
    expected = toy_adversarial.expected_scores()
    assert plugin_scores == {name: {part: float(points) for part, points in expected[name].items()}
                             for name in TAMPERED}
    assert cli.main(["--solutions", str(tmp_path / "solutions"), "grade", str(course_root), "--force",
                     "--quiet"]) == 0
    assert {name: nbgrader_course.part_scores(course_root, LAB_ID, name) for name in TAMPERED} == plugin_scores


@pytest.mark.slow
def test_nbgrader_autograde_on_lab_01_matches_grade(tmp_path):
    lab_id = "01_optimization_basics"
    course_root = nbgrader_course.make_course(tmp_path, [lab_id], nbgrader_course.PROJECT_ROOT / "solutions")
    nbgrader_course.submit(course_root, "ada", lab_id)
    release = course_root / "release" / lab_id / f"{lab_id}.ipynb"
    first_answer = next(cell for cell in nbformat.read(str(release), 4).cells
                        if cell.metadata.get("nbgrader", {}).get("solution"))
    nbgrader_course.submit(course_root, "ben", lab_id,  # the first answer left as released: unfinished
                           answers={first_answer.metadata["nbgrader"]["grade_id"]: first_answer.source})
    nbgrader_course.submit(course_root, "dan", lab_id, answers={
        first_answer.metadata["nbgrader"]["grade_id"]:
            "import numpy as np\nnp.allclose = lambda *a, **k: True\n" + first_answer.source})
    process = nbgrader_course.nbgrader_command(course_root, "autograde", lab_id)
    assert process.returncode == 0, process.stderr[-3000:]
    plugin_scores = {name: nbgrader_course.part_scores(course_root, lab_id, name) for name in ("ada", "ben", "dan")}
    maximum = {name: float(points) for name, points in
               ((cell.metadata["nbgrader"]["grade_id"], cell.metadata["nbgrader"]["points"])
                for cell in nbformat.read(str(release), 4).cells if cell.metadata.get("nbgrader", {}).get("grade"))}
    assert plugin_scores["ada"] == maximum
    assert sum(plugin_scores["ben"].values()) < sum(maximum.values())
    assert sum(plugin_scores["dan"].values()) < sum(maximum.values())  # patching numpy changes no verdict
    assert cli.main(["--solutions", str(nbgrader_course.PROJECT_ROOT / "solutions"), "grade", str(course_root),
                     "--force", "--quiet"]) == 0
    assert {name: nbgrader_course.part_scores(course_root, lab_id, name) for name in ("ada", "ben", "dan")} \
        == plugin_scores


@pytest.mark.slow
def test_vanilla_nbgrader_gives_the_monkeypatching_submission_full_marks(tmp_path):
    """The contrast: without the plugin, nbgrader runs the test cells in the student's kernel."""
    course_root = nbgrader_course.make_course(tmp_path)
    config = course_root / "nbgrader_config.py"
    config.write_text(config.read_text().split("# Trusted grading")[0])  # nbgrader's own autograde
    answers, edit, expected = toy_adversarial.CASES["monkeypatch_numpy"]
    nbgrader_course.submit(course_root, "mallory", LAB_ID, answers, edit)
    process = nbgrader_course.nbgrader_command(course_root, "autograde", LAB_ID)
    assert process.returncode == 0, process.stderr[-3000:]
    assert nbgrader_course.part_scores(course_root, LAB_ID, "mallory") == {"test_relu": 2.0, "test_square": 1.0}
    assert expected == {"test_relu": 0, "test_square": 1}  # what the plugin gives (the test above)
