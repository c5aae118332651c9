"""Mutation tests: every known-wrong implementation in tests/mutants/ loses the points it should."""

import pathlib

import pytest

from autograder import mutation

ROOT = pathlib.Path(__file__).resolve().parents[1]
MUTANT_FILES = sorted((ROOT / "tests" / "mutants").glob("[0-9]*.py"))

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mutant_file", MUTANT_FILES, ids=lambda path: path.stem)
def test_every_mutant_is_killed(mutant_file, capsys):
    lab_id, mutants = mutation.load_mutants(mutant_file)
    assert len(mutants) >= 5, "each lab keeps at least five named wrong implementations"
    outcomes = mutation.run_mutants(mutant_file, ROOT / "solutions", workers=2)
    report = mutation.format_report(lab_id, outcomes)
    with capsys.disabled():
        print("\n" + "\n".join(report))
    survivors = [outcome.name for outcome in outcomes if not outcome.killed]
    assert survivors == [], "\n".join(report)


def test_adam_epsilon_mutant_feedback_shows_the_update_failure_not_the_config_hint(tmp_path):
    """Issue 12: an epsilon misplaced in Adam fails the config round trip too (its displacements differ); that
    check is gated on Adam's core update checks, so the feedback shows the update failure and its hint only."""
    from autograder import batch, lab as lab_module, release, reports, samples

    lab_id, mutants = mutation.load_mutants(ROOT / "tests" / "mutants" / "05_optimizers.py")
    mutant = mutants["adam_epsilon_inside_sqrt"]
    source_path = ROOT / "solutions" / lab_id / f"{lab_id}.ipynb"
    lab = lab_module.load_lab(source_path)
    release_path = release.release_lab(lab_id, ROOT / "solutions", tmp_path / "labs") / f"{lab_id}.ipynb"
    answer = samples.apply_replacements(samples.solution_answers(source_path)[mutant["cell"]], mutant["replace"],
                                        "mutant")
    notebook = samples.write_notebook(samples.make_submission(release_path, source_path, {mutant["cell"]: answer}),
                                      tmp_path / "submission" / f"{lab_id}.ipynb")
    (result,) = batch.grade_folder([batch.Submission("eps", lab_id, notebook)], [lab], tmp_path / "graded",
                                   1, progress=False)
    adam = next(part for part in result.parts if part.grade_id == "test_adam")
    assert adam.score == 0
    failed_core = [check for check in adam.checks if not check.passed and not check.gated]
    assert failed_core and all(not check.hidden for check in failed_core)
    assert any("epsilon" in check.hint for check in failed_core)  # the tiny-gradient check's own hint
    config = next(check for check in adam.checks if "from_config" in check.description)
    assert not config.passed and config.gated.startswith("not checked until ")
    page = reports.feedback_html(result)
    row = page[page.index("test_adam"):page.index("test_adam_amsgrad")]
    assert "hint: With tiny gradients epsilon matters" in row
    assert "not checked until &quot;Adam" in row
    assert "must be stored and returned by get_config" not in row  # the config checks' misleading hints
    assert "Keep the constructor and get_config" not in row
