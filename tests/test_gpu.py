"""On a GPU runtime the solutions still pass every check at the same tolerances.

Checks compare element-wise updates (optimizer steps, schedule values, callback decisions);
TF32 only changes matrix multiplications and convolutions, so the tolerances chosen for the
CPU hold on GPUs. These tests are skipped on machines without a GPU; the same evaluation runs
on the CPU through nbval and tests/test_labs.py.
"""

import pathlib

import pytest

from autograder import lab as lab_module
from labkit import checks

ROOT = pathlib.Path(__file__).resolve().parents[1]


def evaluate_solution_checks(lab_id):
    """Run a lab's setup and answer cells in this process and every check (hidden too) locally."""
    lab = lab_module.load_lab(ROOT / "solutions" / lab_id / f"{lab_id}.ipynb")
    namespace = {"__name__": "__gpu_test__"}
    for cell in lab.cells:
        if cell.role in ("setup", "answer"):
            exec(compile(cell.source, f"<{cell.grade_id}>", "exec"), namespace)
    failures = []
    for graded in lab.all_checks():
        outcome = checks.evaluate(graded.check, namespace)
        if not outcome.passed:
            failures.append(f"{graded.key}: {graded.check.description}: {outcome.message}")
    return failures


@pytest.mark.gpu
@pytest.mark.parametrize("lab_id", sorted(path.parent.name for path in (ROOT / "solutions").glob("*/*.ipynb")))
def test_solution_checks_pass_on_the_gpu(lab_id):
    assert evaluate_solution_checks(lab_id) == []
