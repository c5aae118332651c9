"""What the sandbox observed becomes part verdicts: forbidden execution zeroes, the rest is flagged."""

import pytest

from autograder import findings, lab as lab_module, release, samples, sandbox, submission
from tests.support import toy_lab


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("findings")
    source_path = toy_lab.build(root / "solutions")
    lab = lab_module.load_lab(source_path)
    lab = lab_module.Lab(**dict(vars(lab), forbidden_kernels={"relu": ["Relu"]}))
    release_path = release.release_lab(toy_lab.LAB_ID, root / "solutions", root / "labs") / "00_toy.ipynb"
    notebook_path = samples.write_notebook(samples.make_submission(release_path, source_path), root / "s.ipynb")
    program = submission.build_program(lab, notebook_path)
    return lab, program


def _cell_index(program, label):
    return next(index for index, cell in enumerate(program.cells) if cell["label"] == label)


def _relu_key(lab):
    return next(graded.key for part in lab.parts if part.grade_id == "test_relu" for graded in part.checks)


def test_a_forbidden_kernel_during_a_probe_zeroes_only_its_part(toy):
    lab, program = toy
    observed = sandbox.JobResult(findings=[
        {"kind": "kernel", "message": "cell relu, line 2: ran the TensorFlow kernel Relu", "phase": f"probe:{_relu_key(lab)}"},
    ])
    verdicts = findings.interpret(lab, program, observed)
    assert verdicts["test_relu"].problems and "Relu" in verdicts["test_relu"].problems[0]
    assert verdicts["test_square"].problems == [] and verdicts["test_square"].review == []


def test_a_kernel_the_part_does_not_forbid_is_ignored(toy):
    lab, program = toy
    observed = sandbox.JobResult(findings=[
        {"kind": "kernel", "message": "cell relu, line 2: ran the TensorFlow kernel MatMul", "phase": f"probe:{_relu_key(lab)}"},
    ])
    assert findings.interpret(lab, program, observed)["test_relu"].problems == []


def test_library_code_run_again_anywhere_zeroes_every_part_that_forbids_built_ins(toy):
    lab, program = toy
    observed = sandbox.JobResult(findings=[
        {"kind": "forbidden", "message": "cell square, line 3: runs the library module x.py again",
         "phase": f"cell:{_cell_index(program, 'square')}"},
    ])
    verdicts = findings.interpret(lab, program, observed)
    assert verdicts["test_relu"].problems  # relu forbids built-ins: the fresh copy could serve it
    assert verdicts["test_square"].problems == [] and verdicts["test_square"].review


def test_state_changed_during_a_probe_voids_that_check(toy):
    lab, program = toy
    key = _relu_key(lab)
    observed = sandbox.JobResult(changed=[{"phase": f"probe:{key}", "changes": ["numpy.asarray"]}])
    verdict = findings.interpret(lab, program, observed)["test_relu"]
    assert "numpy.asarray" in verdict.voided_keys[key] and verdict.review


def test_state_changed_by_cells_and_forged_events_are_flagged_everywhere(toy):
    lab, program = toy
    observed = sandbox.JobResult(changed=[{"phase": "cells", "changes": ["builtins.len"]}], forged_events=3)
    for verdict in findings.interpret(lab, program, observed).values():
        assert verdict.problems == [] and verdict.voided_keys == {}
        assert any("builtins.len" in reason for reason in verdict.review)
        assert any("3 events" in reason for reason in verdict.review)
