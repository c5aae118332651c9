"""Grading never loses data: fail closed without a sandbox, never record a failure as a grade, resume.

Most tests replace the sandboxed steps with fakes (tests/support/fake_grading.py) and run the
command line in this process; the ones marked slow grade the toy lab for real.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys

import psutil
import pytest

from autograder import batch, cli, fingerprint, gradebook, grading, release, samples, sandbox
from tests.corpus import toy_adversarial
from tests.support import batch_processes, fake_grading, toy_lab

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
LAB_ID = toy_lab.LAB_ID
STUDENTS = ["amy", "bob", "cleo"]


@pytest.fixture
def course(tmp_path):
    """The toy lab's source and one submission per student in STUDENTS (copies of the source)."""
    source_path = toy_lab.build(tmp_path / "solutions")
    fake_grading.write_submissions(tmp_path / "submissions", source_path, STUDENTS)
    return {"solutions": tmp_path / "solutions", "source": source_path, "submissions": tmp_path / "submissions",
            "output": tmp_path / "grading"}


@pytest.fixture
def grader(monkeypatch):
    return fake_grading.install(monkeypatch)


def grade(course, *options):
    """Run `grade` on the course in this process; returns the exit status."""
    return cli.main(["--solutions", str(course["solutions"]), "grade", str(course["submissions"]),
                     "--output", str(course["output"]), "--quiet", *options])


def recorded_scores(output, lab_id=LAB_ID):
    """student -> total score of every submission of lab_id in the gradebook."""
    with gradebook.open_gradebook(output / "gradebook.db") as book:
        return {submission.student.id: submission.score for submission in book.assignment_submissions(lab_id)}


def leftover_temporaries(output):
    return sorted(str(path) for path in (output / "results").glob("**/*.tmp"))


# ---------------------------------------------------------------------------
# Failing closed: no usable sandbox, no grading.


@pytest.fixture
def broken_bwrap(tmp_path, monkeypatch):
    """A `bwrap` that is installed but cannot start (as in a container without user namespaces)."""
    folder = tmp_path / "fake-bin"
    folder.mkdir()
    script = folder / "bwrap"
    script.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    sandbox.bwrap_problem.cache_clear()
    yield script
    monkeypatch.undo()
    sandbox.bwrap_problem.cache_clear()


@pytest.mark.parametrize("options", [[], ["--isolation", "bwrap"], ["--isolation", "none"]])
def test_a_sandbox_that_cannot_start_refuses_to_grade(course, broken_bwrap, monkeypatch, capsys, options):
    grader = fake_grading.install(monkeypatch, check_the_sandbox=True)  # were grading to start, it would be fake
    assert grade(course, *options) == 2
    assert grader.calls == []
    error = capsys.readouterr().err
    assert "error:" in error and "--allow-unsandboxed" in error
    assert not course["output"].exists(), "nothing may be written when grading is refused"


@pytest.mark.slow
def test_allow_unsandboxed_grades_with_a_loud_warning(tmp_path, broken_bwrap, monkeypatch, capsys):
    fake_grading.read_alembic_head_once(monkeypatch)
    source_path = toy_lab.build(tmp_path / "solutions")
    fake_grading.write_submissions(tmp_path / "submissions", source_path, ["amy"])
    code = cli.main(["--solutions", str(tmp_path / "solutions"), "grade", str(tmp_path / "submissions"),
                     "--output", str(tmp_path / "grading"), "--quiet", "--allow-unsandboxed"])
    captured = capsys.readouterr()
    assert code == 0, captured
    assert "WARNING: grading WITHOUT the bubblewrap sandbox" in captured.err
    assert "REDUCED isolation" in captured.err
    assert recorded_scores(tmp_path / "grading") == {"amy": 3.0}
    (result,) = batch.load_results(tmp_path / "grading" / "results")
    assert result.isolation == "none"
    assert "REDUCED isolation" in (tmp_path / "grading" / "grading.log").read_text()


# ---------------------------------------------------------------------------
# A failure on the grader's side is never a grade.


def test_failing_references_leave_only_that_lab_ungraded(course, grader, monkeypatch, capsys):
    other_source = course["solutions"] / "01_other" / "01_other.ipynb"
    other_source.parent.mkdir()
    other_source.write_bytes(course["source"].read_bytes())
    fake_grading.write_submissions(course["submissions"], other_source, ["amy"])

    def compute_references(lab, isolation="bwrap"):
        if lab.lab_id == "01_other":
            raise grading.ReferenceComputationError("01_other: the reference for check x failed: ImportError")
        return {}

    monkeypatch.setattr(grading, "compute_references", compute_references)
    assert grade(course) == 3
    out = capsys.readouterr().out
    assert "not graded: amy 01_other: 01_other: the reference for check x failed: ImportError" in out
    assert "3 graded, 0 skipped (unchanged), 1 not graded" in out
    assert recorded_scores(course["output"]) == {"amy": 3.0, "bob": 3.0, "cleo": 3.0}
    assert recorded_scores(course["output"], "01_other") == {}
    saved = json.loads((course["output"] / "results" / "amy" / "01_other.not-graded.json").read_text())
    assert saved["status"] == "not_graded" and "ImportError" in saved["reason"]
    assert sorted(grader.calls) == STUDENTS


@pytest.mark.slow
def test_broken_references_in_the_sandbox_leave_only_that_lab_ungraded(tmp_path, monkeypatch, capsys):
    fake_grading.read_alembic_head_once(monkeypatch)
    source_path = toy_lab.build(tmp_path / "solutions")
    broken_path = tmp_path / "solutions" / "01_broken" / "01_broken.ipynb"
    broken_path.parent.mkdir()
    broken_path.write_text(source_path.read_text().replace("keras.activations.relu\\\"", "keras.activations.gone\\\""))
    assert "keras.activations.gone" in broken_path.read_text()
    fake_grading.write_submissions(tmp_path / "submissions", source_path, ["amy"])
    fake_grading.write_submissions(tmp_path / "submissions", broken_path, ["amy"])
    code = cli.main(["--solutions", str(tmp_path / "solutions"), "grade", str(tmp_path / "submissions"),
                     "--output", str(tmp_path / "grading"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 3
    assert "not graded: amy 01_broken: 01_broken: the reference for check" in out
    assert recorded_scores(tmp_path / "grading") == {"amy": 3.0}
    assert recorded_scores(tmp_path / "grading", "01_broken") == {}


def test_a_bug_while_grading_one_submission_costs_only_that_one(course, grader, capsys):
    def crash(lab, student_id):
        raise KeyError("a bug on the trusted side")

    grader.outcomes["bob"] = crash
    assert grade(course) == 3
    out = capsys.readouterr().out
    assert "not graded: bob 00_toy: the grader failed (KeyError: 'a bug on the trusted side')" in out
    assert recorded_scores(course["output"]) == {"amy": 3.0, "cleo": 3.0}


def test_a_not_graded_result_leaves_the_earlier_grade_as_it_was(course, grader, capsys):
    assert grade(course) == 0
    grader.outcomes["bob"] = lambda lab, student_id: fake_grading.zero_marks(lab, student_id)
    grader.outcomes["amy"] = lambda lab, student_id: grading.SubmissionResult(
        student_id, lab.lab_id, [], [], [], {}, "", "bwrap", 0.0, status="not_graded",
        reason="the sandbox could not start")
    assert grade(course, "--force") == 3
    out = capsys.readouterr().out
    assert "not graded: amy 00_toy: the sandbox could not start" in out
    assert recorded_scores(course["output"]) == {"amy": 3.0, "bob": 0.0, "cleo": 3.0}
    results = {result.student_id: result for result in batch.load_results(course["output"] / "results")}
    assert results["amy"].graded and results["amy"].score == 3.0  # the grade on record, not the failed retry
    assert (course["output"] / "results" / "amy" / "00_toy.not-graded.json").is_file()
    rows = (course["output"] / "grades.csv")
    batch.export_csv(course["output"])
    assert "amy,00_toy,test_relu,2,2" in rows.read_text()
    assert "not graded" not in rows.read_text()


def test_a_failed_commit_costs_only_that_submission_and_leaves_nothing_half_written(course, grader, monkeypatch,
                                                                                     capsys):
    record_result = gradebook.record_result

    def disk_full_for_bob(book, lab, result):
        if result.student_id == "bob":
            raise OSError(28, "No space left on device")
        return record_result(book, lab, result)

    monkeypatch.setattr(gradebook, "record_result", disk_full_for_bob)
    assert grade(course) == 3
    assert "not graded: bob 00_toy: its result could not be saved (OSError: [Errno 28] No space left on device)" \
        in capsys.readouterr().out
    assert recorded_scores(course["output"]) == {"amy": 3.0, "cleo": 3.0}
    assert not (course["output"] / "results" / "bob" / "00_toy.json").exists()
    assert leftover_temporaries(course["output"]) == []
    monkeypatch.setattr(gradebook, "record_result", record_result)
    assert grade(course) == 0
    assert "1 graded, 2 skipped (unchanged), 0 not graded" in capsys.readouterr().out
    assert recorded_scores(course["output"]) == {"amy": 3.0, "bob": 3.0, "cleo": 3.0}
    assert not (course["output"] / "results" / "bob" / "00_toy.not-graded.json").exists()


# ---------------------------------------------------------------------------
# An output that cannot be written is refused before anything is written.


def _file_instead_of_results(output):
    output.mkdir()
    (output / "results").write_text("a file where the results folder should be")


def _file_instead_of_output(output):
    output.write_text("a file where the grading folder should be")


def _folder_instead_of_gradebook(output):
    (output / "gradebook.db").mkdir(parents=True)


@pytest.mark.parametrize("break_output", [_file_instead_of_results, _file_instead_of_output,
                                          _folder_instead_of_gradebook])
def test_an_unwritable_output_is_refused_before_anything_is_written(course, grader, capsys, break_output):
    output = course["output"]
    break_output(output)
    before = sorted(output.rglob("*")) if output.is_dir() else None
    assert grade(course) == 2
    assert "error:" in capsys.readouterr().err
    assert (sorted(output.rglob("*")) if output.is_dir() else None) == before
    assert grader.calls == []


def test_check_writable_accepts_a_new_or_existing_output(tmp_path):
    batch.check_writable(tmp_path / "new" / "grading")
    (tmp_path / "grading" / "results").mkdir(parents=True)
    batch.check_writable(tmp_path / "grading")


# ---------------------------------------------------------------------------
# Resuming: unchanged submissions are skipped, changed and not-graded ones are graded.


def test_a_second_run_skips_what_is_unchanged(course, grader, capsys):
    assert grade(course) == 0
    assert "3 graded, 0 skipped (unchanged), 0 not graded" in capsys.readouterr().out
    assert grade(course) == 0
    out = capsys.readouterr().out
    assert "0 graded, 3 skipped (unchanged), 0 not graded" in out
    assert "amy" in out and "3/3" in out  # the summary still lists everyone
    assert len(grader.calls) == 3
    with open(course["submissions"] / "bob" / f"{LAB_ID}.ipynb", "a") as notebook_file:
        notebook_file.write("\n")
    assert grade(course) == 0
    assert "1 graded, 2 skipped (unchanged), 0 not graded" in capsys.readouterr().out
    assert grader.calls[3:] == ["bob"]
    assert grade(course, "--force") == 0
    assert "3 graded, 0 skipped (unchanged), 0 not graded" in capsys.readouterr().out
    assert recorded_scores(course["output"]) == {"amy": 3.0, "bob": 3.0, "cleo": 3.0}


def test_not_graded_submissions_are_always_retried(course, grader, capsys):
    grader.outcomes["cleo"] = lambda lab, student_id: grading.SubmissionResult(
        student_id, lab.lab_id, [], [], [], {}, "", "bwrap", 0.0, status="not_graded", reason="runner never started")
    assert grade(course) == 3
    assert recorded_scores(course["output"]) == {"amy": 3.0, "bob": 3.0}
    assert "cleo,00_toy,not graded,," in batch.export_csv(course["output"]).read_text().splitlines()
    feedback = {path.parent.name: path.read_text() for path in batch.write_all_feedback(course["output"])}
    assert "00_toy: not graded yet" in feedback["cleo"] and "runner never started" not in feedback["cleo"]
    del grader.outcomes["cleo"]
    assert grade(course) == 0
    assert "1 graded, 2 skipped (unchanged), 0 not graded" in capsys.readouterr().out
    assert recorded_scores(course["output"]) == {"amy": 3.0, "bob": 3.0, "cleo": 3.0}
    assert not (course["output"] / "results" / "cleo" / "00_toy.not-graded.json").exists()


def test_a_result_missing_from_the_gradebook_is_graded_again(course, grader, capsys):
    assert grade(course) == 0
    (course["output"] / "gradebook.db").unlink()
    assert grade(course) == 0
    assert "3 graded, 0 skipped (unchanged), 0 not graded" in capsys.readouterr().out
    assert recorded_scores(course["output"]) == {"amy": 3.0, "bob": 3.0, "cleo": 3.0}


def test_the_fingerprint_covers_notebook_lab_and_grader(course, monkeypatch):
    notebook = course["submissions"] / "amy" / f"{LAB_ID}.ipynb"
    first = fingerprint.submission_fingerprint(notebook, course["source"])
    assert fingerprint.submission_fingerprint(notebook, course["source"]) == first
    notebook.write_text(notebook.read_text() + " ")
    changed_notebook = fingerprint.submission_fingerprint(notebook, course["source"])
    course["source"].write_text(course["source"].read_text() + " ")
    changed_lab = fingerprint.submission_fingerprint(notebook, course["source"])
    monkeypatch.setattr(fingerprint, "grader_version", lambda: "a newer grader")
    changed_grader = fingerprint.submission_fingerprint(notebook, course["source"])
    assert len({first, changed_notebook, changed_lab, changed_grader}) == 4


def test_the_grader_version_is_a_digest_of_both_packages():
    version = fingerprint.grader_version()
    assert len(version) == 64 and int(version, 16) >= 0
    folders = {path.name for path in fingerprint.GRADER_PACKAGES}
    assert folders == {"autograder", "labkit"}


# ---------------------------------------------------------------------------
# SIGINT and SIGTERM: stop cleanly, then the same command resumes.


@pytest.fixture(scope="module")
def six_students(tmp_path_factory):
    """The toy lab, released, with six complete submissions; all but the first take 2 s more.

    Warm sandboxes grade a toy submission in a fraction of a second, so without the pause the
    whole batch could be done before the signal arrives.
    """
    root = tmp_path_factory.mktemp("interrupted")
    source_path = toy_lab.build(root / "solutions")
    release_path = release.release_lab(LAB_ID, root / "solutions", root / "labs") / f"{LAB_ID}.ipynb"
    students = [f"student{index}" for index in range(6)]
    slow = {"relu": "import time\ntime.sleep(2)\n" + toy_adversarial.CORRECT_RELU}
    for index, student_id in enumerate(students):
        samples.write_notebook(samples.make_submission(release_path, source_path, slow if index else None),
                               root / "submissions" / student_id / f"{LAB_ID}.ipynb")
    return root, students


@pytest.mark.slow
@pytest.mark.parametrize("signal_number, exit_status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_batch_resumes_without_losing_or_repeating_anything(six_students, tmp_path, signal_number,
                                                                            exit_status):
    root, students = six_students
    output = tmp_path / "grading"
    command = [sys.executable, "-m", "autograder", "--solutions", str(root / "solutions"), "grade",
               str(root / "submissions"), "--output", str(output), "--workers", "1", "--quiet"]
    process = subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        batch_processes.wait_for_first_result(process, output / "results", LAB_ID)
        running = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal_number)
        out, error = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == exit_status, (out, error)
    assert f"interrupted by {signal.Signals(signal_number).name}" in error
    assert "Run the same command again to resume" in error
    _, alive = psutil.wait_procs(running, timeout=10)
    assert [member.cmdline() for member in alive] == [], "sandboxes left running after the grader exited"
    assert leftover_temporaries(output) == []
    done = sorted(path.parent.name for path in (output / "results").glob(f"*/{LAB_ID}.json"))
    assert 1 <= len(done) < len(students)
    assert sorted(recorded_scores(output)) == done

    completed = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=400)
    assert completed.returncode == 0, completed.stderr
    assert f"{len(students) - len(done)} graded, {len(done)} skipped (unchanged), 0 not graded" in completed.stdout, \
        completed.stdout.splitlines()[-2:]
    with gradebook.open_gradebook(output / "gradebook.db") as book:
        recorded = [submission.student.id for submission in book.assignment_submissions(LAB_ID)]
        assert sorted(recorded) == students  # every student exactly once
        assert all(submission.score == 3.0 for submission in book.assignment_submissions(LAB_ID))
    log = (output / "grading.log").read_text()
    assert all(log.count(f"{student_id} {LAB_ID}: 3/3") == 1 for student_id in students), log
