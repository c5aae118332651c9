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
