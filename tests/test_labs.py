"""Every lab in solutions/: conventions hold, labs/ is in sync, and grading separates right from wrong.

The grading checks go through the real sandboxed pipeline: the solution must earn every
point and the untouched release must earn none, on every graded part.
"""

import json
import pathlib

import pytest

from autograder import batch, lab as lab_module, release, samples

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
LAB_IDS = release.lab_ids(SOLUTIONS)


def test_there_are_labs():
    assert {"05_optimizers", "06_callbacks"} <= set(LAB_IDS)


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_lab_follows_the_conventions(lab_id):
    lab = lab_module.load_lab(SOLUTIONS / lab_id / f"{lab_id}.ipynb")
    assert lab.answer_ids(), "a lab needs answer cells"
    for part in lab.parts:
        assert any(graded.hidden for graded in part.checks), f"{part.grade_id} has no hidden check"
        assert any(not graded.hidden for graded in part.checks), f"{part.grade_id} has no visible self-check"
        for graded in part.checks:
            if graded.hidden:
                assert graded.check.hint, f"{part.grade_id}: hidden checks need a hint for the feedback"
    for symbol, paths in {**lab.forbidden_builtins, **lab.forbidden_in_source}.items():
        assert all(path.startswith(BACKEND_PACKAGES) for path in paths), symbol


# Keras, and the packages of its backends (optax and flax are what JAX users reach for).
BACKEND_PACKAGES = ("keras.", "tensorflow.", "jax.", "optax.", "flax.", "torch.")


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_forbidding_a_tensorflow_built_in_forbids_the_other_backends_equivalents(lab_id):
    """A lab that forbids a TensorFlow path for a symbol also forbids a JAX and a PyTorch equivalent,
    or says in metadata.labkit.forbidden_builtins_notes why there is none."""
    notebook = json.loads((SOLUTIONS / lab_id / f"{lab_id}.ipynb").read_text())
    notes = notebook["metadata"]["labkit"].get("forbidden_builtins_notes", {})
    lab = lab_module.load_lab(SOLUTIONS / lab_id / f"{lab_id}.ipynb")
    assert set(notes) <= set(lab.forbidden_builtins), "notes for symbols the lab does not forbid anything for"
    for symbol, paths in lab.forbidden_builtins.items():
        if not any(path.startswith("tensorflow.") for path in paths):
            continue
        jax_paths = [path for path in paths if path.startswith(("jax.", "optax.", "flax."))]
        torch_paths = [path for path in paths if path.startswith("torch.")]
        assert (jax_paths and torch_paths) or notes.get(symbol), (
            f"{symbol} forbids TensorFlow built-ins: forbid the JAX and PyTorch equivalents too, "
            "or say why there are none in metadata.labkit.forbidden_builtins_notes")


@pytest.mark.parametrize("folder", ["solutions", "labs"])
def test_notebooks_are_stored_without_outputs(folder):
    for path in sorted((ROOT / folder).glob("*/*.ipynb")):
        notebook = json.loads(path.read_text())
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path}: outputs stored"


def test_release_is_in_sync_with_the_solutions():
    differences = release.release_differences(SOLUTIONS, ROOT / "labs")
    assert differences == [], f"run `make release`: {differences}"


def test_release_hides_solutions_and_hidden_tests():
    for lab_id in LAB_IDS:
        text = (ROOT / "labs" / lab_id / f"{lab_id}.ipynb").read_text()
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
        assert "YOUR CODE HERE" in text


@pytest.mark.slow
@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_solution_earns_everything_and_release_nothing(lab_id, tmp_path):
    source_path = SOLUTIONS / lab_id / f"{lab_id}.ipynb"
    release_path = ROOT / "labs" / lab_id / f"{lab_id}.ipynb"
    lab = lab_module.load_lab(source_path)
    solution = samples.write_notebook(samples.make_submission(release_path, source_path),
                                      tmp_path / "solution" / f"{lab_id}.ipynb")
    submissions = [batch.Submission("solution", lab_id, solution),
                   batch.Submission("release", lab_id, release_path)]
    results = {result.student_id: result
               for result in batch.grade_folder(submissions, [lab], tmp_path / "graded", workers=2, progress=False)}
    solved = results["solution"]
    assert solved.score == lab.max_points, [
        (part.grade_id, [check.message for check in part.checks if not check.passed], part.problems)
        for part in solved.parts if part.score < part.max_score
    ] + [solved.incidents, solved.cell_errors]
    assert solved.isolation == "bwrap"
    untouched = results["release"]
    assert {part.grade_id: part.score for part in untouched.parts} == {part.grade_id: 0 for part in lab.parts}
    print(f"\n{lab_id}: solution graded in {solved.seconds:.1f} s, release in {untouched.seconds:.1f} s")


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_lab_has_discussion_questions_whose_model_answers_stay_out_of_the_release(lab_id):
    lab = lab_module.load_lab(SOLUTIONS / lab_id / f"{lab_id}.ipynb")
    assert len(lab.written_answers) >= 3, "a lab needs at least three discussion questions"
    released = json.loads((ROOT / "labs" / lab_id / f"{lab_id}.ipynb").read_text())
    released_text = "\n".join("".join(cell["source"]) for cell in released["cells"])
    released_ids = {cell["metadata"].get("nbgrader", {}).get("grade_id"): "".join(cell["source"])
                    for cell in released["cells"]}
    for written in lab.written_answers:
        assert written.question and len(written.model_answer.split()) >= 20, f"{written.grade_id}: empty question or answer"
        for sentence in written.model_answer.split(". "):
            assert sentence.strip() not in released_text or len(sentence.strip()) < 25, \
                f"{written.grade_id}: the release shows its model answer"
        assert released_ids[written.grade_id].strip() == release.WRITTEN_ANSWER_STUB
    predict_cells = [cell for cell in lab.cells if cell.editable]
    assert 1 <= len(predict_cells) <= 2 and all(cell.role == "experiment" for cell in predict_cells)
    assert all("EDIT ME" in cell.source for cell in predict_cells), "mark the line a student edits"


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_lab_asserts_its_headline_phenomenon_and_the_release_does_not(lab_id):
    """Issue 12: each lab has instructor-only cells (tag `instructor`) that check, with labkit.phenomena, that
    its experiments show what the text claims; CI runs them with the solutions in fast mode (nbval)."""
    source = json.loads((SOLUTIONS / lab_id / f"{lab_id}.ipynb").read_text())
    headline_cells = ["".join(cell["source"]) for cell in source["cells"]
                      if "instructor" in cell["metadata"].get("tags", [])]
    assert headline_cells and all("phenomena.expect(" in text for text in headline_cells), \
        "add an instructor-only cell that calls labkit.phenomena.expect on the experiment's numbers"
    released = json.loads((ROOT / "labs" / lab_id / f"{lab_id}.ipynb").read_text())
    assert not [cell for cell in released["cells"] if "instructor" in cell["metadata"].get("tags", [])]
    assert "phenomena.expect(" not in json.dumps(released)
