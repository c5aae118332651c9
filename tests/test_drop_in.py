"""The labs' drop-in claim, checked with Keras's own unit tests (benchmarks/drop_in.py).

Every Keras test that names a solution class passes with the solution class in its place, except the
documented exclusions (features a lab leaves out), each of which must still fail, so the list cannot rot.
The counts are in benchmarks/RESULTS.md (`python -m benchmarks.drop_in` rewrites that section).
"""

import pytest

pytest.importorskip("absl.testing.parameterized")  # Keras's test modules need absl (a Keras dependency)

from benchmarks import drop_in  # noqa: E402


@pytest.fixture(scope="module")
def results():
    return drop_in.run_all()


@pytest.mark.parametrize("lab_id", sorted(drop_in.SUITES))
def test_keras_unit_tests_pass_on_the_solutions(results, lab_id):
    problems = []
    for class_name, outcomes in results[lab_id].items():
        _, _, _, total, class_problems = drop_in.summarize(outcomes, class_name)
        problems += class_problems
        assert total > 0, f"no Keras test names {class_name}: fix SUITES in benchmarks/drop_in.py"
    assert not problems, "\n".join(problems)


def test_every_exclusion_names_a_suite_class_and_gives_a_reason():
    classes = {name for entries in drop_in.SUITES.values() for name, _, _ in entries}
    for class_name, exclusions in drop_in.EXCLUSIONS.items():
        assert class_name in classes, class_name
        for pattern, reason in exclusions.items():
            assert "." in pattern and reason.strip(), (class_name, pattern)


def test_results_section_rewrites_only_its_markers():
    lines = drop_in.section_lines({"05_optimizers": {"SGD": {"SGDTest.test_config": ("passed", "")}}}, 1.0)
    assert lines[0] == "## Drop-in: Keras's own unit tests against the solutions"
    assert "| 05_optimizers | SGD | `optimizers.sgd_test` | 1 | 0 | 0 | 1 |" in lines
