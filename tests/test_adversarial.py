"""The adversarial corpus: each tampered or broken toy-lab submission gets exactly its expected score."""

import pytest

from autograder import batch
from tests.corpus import toy_adversarial
from tests.support import toy_lab

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade every corpus entry once, in one batch with two workers, inside the sandbox."""
    root = tmp_path_factory.mktemp("adversarial")
    lab, submissions = toy_adversarial.write_class(root)
    results = batch.grade_folder(submissions, [lab], root / "graded", workers=2, progress=False)
    return {result.student_id: result for result in results}, root


@pytest.mark.parametrize("name", sorted(toy_adversarial.CASES))
def test_exact_score(graded, name):
    results, _ = graded
    expected = toy_adversarial.CASES[name][2]
    got = {part.grade_id: part.score for part in results[name].parts}
    assert got == expected, f"{name}: {results[name].notes} {results[name].incidents} {results[name].cell_errors}"


def test_incidents_are_named_in_feedback_and_log(graded):
    results, root = graded
    log = (root / "graded" / "grading.log").read_text()
    assert "os_exit" in log and "exit status 0" in log or "ended unexpectedly" in log
    assert "time limit" in log
    hanging = results["infinite_loop_at_import"]
    assert any("time limit" in incident for incident in hanging.incidents)
    assert any("uses a Keras built-in" in problem for part in results["uses_builtin"].parts for problem in part.problems)
    assert any("edited" in note for note in results["tests_gutted"].notes)
    assert any("could not be read" in note for note in results["unreadable_notebook"].notes)
    named = {"monkeypatch_numpy": "numpy.allclose", "monkeypatch_checks": "labkit.checks.compare_outputs",
             "monkeypatch_builtins": "builtins.isinstance", "forged_probe_outputs": "labkit.function_probes.outputs_on"}
    for case, patch in named.items():
        assert any(patch in note for note in results[case].notes), (case, results[case].notes)
        assert patch in log


def test_gradebook_holds_every_submission(graded):
    results, root = graded
    from autograder import gradebook

    with gradebook.open_gradebook(root / "graded" / "gradebook.db") as book:
        for name, result in results.items():
            submission = book.find_submission(toy_lab.LAB_ID, name)
            assert submission.score == pytest.approx(result.score)


def test_sandbox_hides_the_host(graded):
    results, _ = graded
    # The probing cell would have raised SystemExit (and lost the part) if it had seen any file.
    assert results["reads_hidden_tests_and_gradebook"].cell_errors == {}
    assert results["uses_network"].cell_errors == {}
    # Sanity check of the probe itself: outside the sandbox, the same paths do exist.
    root = graded[1]
    assert (root / "graded" / "gradebook.db").is_file()
