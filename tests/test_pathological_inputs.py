"""Pathological submissions cost that one student at most, with a clear message; the trusted side never falls over."""

import os

import pytest

from autograder import batch, cli, code_scan, forbidden, gradebook, lab as lab_module, release, samples
from autograder import submission, tampering
from tests.support import fake_grading, toy_lab

LAB_ID = toy_lab.LAB_ID
DEPTH = 200_000
RELU = ["keras.activations.relu", "keras.ops.relu"]
NESTED_TOO_DEEPLY = "line ?: the code could not be scanned (nested too deeply)"
DEEP_SOURCES = {
    "unary minus": "x = " + "-" * DEPTH + "1\n",  # the parser's stack overflows (MemoryError)
    "attribute chain": "x = y" + ".a" * DEPTH + "\n",  # too deep to build the tree (RecursionError)
    "sum": "x = " + "+".join(["1"] * DEPTH) + "\n",
}
CORRECT_RELU = "import numpy as np\n\ndef relu(values):\n    return np.maximum(values, 0.0)\n"


# ---------------------------------------------------------------------------
# Static scans: source that cannot be scanned never passes silently.


@pytest.mark.parametrize("source", DEEP_SOURCES.values(), ids=DEEP_SOURCES.keys())
def test_deeply_nested_source_is_unscannable(source):
    with pytest.raises(code_scan.UnscannableSource, match="nested too deeply"):
        code_scan.parse(source)
    assert forbidden.forbidden_uses(source, RELU) == [NESTED_TOO_DEEPLY]
    assert forbidden.indirect_access(source) == [NESTED_TOO_DEEPLY]
    assert tampering.monkeypatches(source) == [NESTED_TOO_DEEPLY]


def test_source_over_the_size_cap_is_unscannable():
    source = CORRECT_RELU + "# padding\n" * (code_scan.MAX_SOURCE_CHARACTERS // 10)
    with pytest.raises(code_scan.UnscannableSource, match="longer than 1,000,000 characters"):
        code_scan.parse(source)
    assert forbidden.forbidden_uses(source, RELU) == [
        "line ?: the code could not be scanned (longer than 1,000,000 characters)"]


def test_an_unscannable_answer_is_scanned_for_every_symbol():
    answers = {"relu": CORRECT_RELU, "square": DEEP_SOURCES["sum"]}
    assert forbidden.defining_sources(answers, "relu") == answers
    assert forbidden.defining_sources({"relu": CORRECT_RELU}, "relu") == {"relu": CORRECT_RELU}


def test_too_many_parentheses_is_a_syntax_error_not_a_crash():
    assert code_scan.parse("x = " + "(" * DEPTH + "1" + ")" * DEPTH) is None


# ---------------------------------------------------------------------------
# Reading submitted files.


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    source_path = toy_lab.build(root / "solutions")
    return {"root": root, "source_path": source_path, "lab": lab_module.load_lab(source_path)}


def _write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def _huge_file(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as notebook_file:
        notebook_file.truncate(200 * 1000 * 1000)  # sparse: 200 MB that cost no disk space
    return path


def _linked_file(path, target):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


def _linked_folder(path, target):
    path.parent.parent.mkdir(parents=True, exist_ok=True)
    path.parent.symlink_to(target.parent, target_is_directory=True)
    return path


def _fifo(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


UNREADABLE = {
    "invalid JSON": (lambda path, source: _write(path, "{ this is not a notebook"),
                     "the notebook could not be read as Jupyter JSON (JSONDecodeError"),
    "nested 200,000 arrays deep": (lambda path, source: _write(path, "[" * DEPTH + "]" * DEPTH),
                                   "the notebook could not be read as Jupyter JSON: it is nested too deeply"),
    "200 MB": (lambda path, source: _huge_file(path),
               "the notebook could not be read: it is 200.0 MB, more than the 20 MB a submission may have"),
    "not UTF-8": (lambda path, source: _write(path, '{"cells": ["caf\xe9"]}'.encode("latin-1")),
                  "the notebook could not be read: it is not UTF-8 text"),
    "a link to the solutions": (lambda path, source: _linked_file(path, source), submission.SYMBOLIC_LINK_MESSAGE),
    "in a linked folder": (lambda path, source: _linked_folder(path, source), submission.SYMBOLIC_LINK_MESSAGE),
    "a named pipe": (lambda path, source: _fifo(path), "the notebook could not be read: it is not a regular file"),
}


@pytest.mark.parametrize("name", UNREADABLE)
def test_unreadable_submissions_are_refused_with_a_message(toy, tmp_path, name):
    make, message = UNREADABLE[name]
    path = make(tmp_path / "student" / f"{LAB_ID}.ipynb", toy["source_path"])
    program = submission.build_program(toy["lab"], path)
    assert program.readable is False
    assert program.cells == [] and program.answers == {}
    assert program.notes[0].startswith(message), program.notes


def test_the_size_cap_is_a_named_constant():
    assert submission.MAX_NOTEBOOK_BYTES == 20_000_000


# ---------------------------------------------------------------------------
# Finding submissions: odd and hostile folder names are skipped, and said so.


@pytest.mark.parametrize("name", ["abc\n", "has space", "tab\there", "-dash", ".hidden", "ünï", "x" * 129])
def test_hostile_folder_names_are_skipped_and_reported(tmp_path, name):
    _write(tmp_path / name / f"{LAB_ID}.ipynb", "{}")
    ada = _write(tmp_path / "ada" / f"{LAB_ID}.ipynb", "{}")
    discovery = batch.discover_submissions(tmp_path, [LAB_ID])
    assert discovery.submissions == [batch.Submission("ada", LAB_ID, ada)]
    assert discovery.skipped == [f"skipped folder {ascii(name)}: not a valid student id ({batch.STUDENT_ID_RULE})"]


def test_a_trailing_newline_is_not_a_student_id():
    assert batch.STUDENT_ID.fullmatch("abc") and not batch.STUDENT_ID.fullmatch("abc\n")


def test_a_linked_student_folder_is_found_but_never_followed(toy, tmp_path):
    real = _write(tmp_path / "elsewhere" / f"{LAB_ID}.ipynb", toy["source_path"].read_text())
    (tmp_path / "submissions").mkdir()
    (tmp_path / "submissions" / "mallory").symlink_to(real.parent, target_is_directory=True)
    (tmp_path / "submissions" / "nobody").symlink_to(tmp_path / "missing", target_is_directory=True)
    discovery = batch.discover_submissions(tmp_path / "submissions", [LAB_ID])
    (found,) = discovery.submissions
    assert found.student_id == "mallory"
    assert submission.build_program(toy["lab"], found.path).notes == [submission.SYMBOLIC_LINK_MESSAGE]
    assert discovery.skipped == ["skipped folder 'nobody': a symbolic link with no submission in it (not followed)"]


def test_skipped_folders_are_reported_on_stderr_and_in_the_log(tmp_path, monkeypatch, capsys):
    fake_grading.install(monkeypatch)
    source_path = toy_lab.build(tmp_path / "solutions")
    fake_grading.write_submissions(tmp_path / "submissions", source_path, ["amy", "abc\n"])
    code = cli.main(["--solutions", str(tmp_path / "solutions"), "grade", str(tmp_path / "submissions"),
                     "--output", str(tmp_path / "grading"), "--quiet"])
    assert code == 0
    assert "warning: skipped folder 'abc\\n': not a valid student id" in capsys.readouterr().err
    assert "skipped folder 'abc\\n'" in (tmp_path / "grading" / "grading.log").read_text()


# ---------------------------------------------------------------------------
# One batch: every pathological file beside good ones, graded for real.


@pytest.mark.slow
def test_pathological_submissions_beside_good_ones_in_one_batch(tmp_path, monkeypatch, capsys):
    fake_grading.read_alembic_head_once(monkeypatch)
    source_path = toy_lab.build(tmp_path / "solutions")
    release_path = release.release_lab(LAB_ID, tmp_path / "solutions", tmp_path / "labs") / f"{LAB_ID}.ipynb"
    submissions = tmp_path / "submissions"
    for student_id in ("good_amy", "good_bob", "abc\n"):
        samples.write_notebook(samples.make_submission(release_path, source_path),
                               submissions / student_id / f"{LAB_ID}.ipynb")
    deep_answer = CORRECT_RELU + DEEP_SOURCES["unary minus"]
    samples.write_notebook(samples.make_submission(release_path, source_path, {"relu": deep_answer}),
                           submissions / "deep_expression" / f"{LAB_ID}.ipynb")
    for name, (make, _) in UNREADABLE.items():
        student_id = name.replace(" ", "_").replace(",", "")
        make(submissions / student_id / f"{LAB_ID}.ipynb", source_path)
    code = cli.main(["--solutions", str(tmp_path / "solutions"), "grade", str(submissions),
                     "--output", str(tmp_path / "grading"), "--workers", "2", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured
    assert "warning: skipped folder 'abc\\n'" in captured.err
    results = {result.student_id: result for result in batch.load_results(tmp_path / "grading" / "results")}
    assert len(results) == 3 + len(UNREADABLE)
    assert all(result.graded for result in results.values())
    for student_id in ("good_amy", "good_bob"):
        assert results[student_id].score == 3.0, results[student_id]
    for name, (_, message) in UNREADABLE.items():
        result = results[name.replace(" ", "_").replace(",", "")]
        assert result.score == 0.0 and result.notes[0].startswith(message), (name, result.notes)
    deep = {part.grade_id: part for part in results["deep_expression"].parts}
    assert (deep["test_relu"].score, deep["test_square"].score) == (0.0, 1.0)
    assert any("could not be scanned (nested too deeply)" in problem for problem in deep["test_relu"].problems)
    with gradebook.open_gradebook(tmp_path / "grading" / "gradebook.db") as book:
        assert sorted(item.student.id for item in book.assignment_submissions(LAB_ID)) == sorted(results)
    assert submission.SYMBOLIC_LINK_MESSAGE in (tmp_path / "grading" / "grading.log").read_text()
