"""Tests for autograder.lab, autograder.release and autograder.submission on the toy lab."""

import copy
import functools
import json
import shutil
import types

import nbformat
import nbgrader.api
import pytest

from autograder import lab as lab_module
from autograder import release, samples, submission
from tests.support import toy_lab

LAB_ID = toy_lab.LAB_ID


def _cell(notebook, grade_id):
    for cell in notebook.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(grade_id)


def _index(notebook, grade_id):
    return notebook.cells.index(_cell(notebook, grade_id))


@functools.cache
def _alembic_head():
    """What `alembic heads` prints for nbgrader's migrations, read in this process."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import _temp_alembic_ini

    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as alembic_ini:
        return ScriptDirectory.from_config(Config(alembic_ini)).get_current_head()


@pytest.fixture(scope="module")
def alembic_head_once():
    """nbgrader starts an `alembic heads` process (seconds) on every release to read its fixed schema head.

    Read the same head once, in this process; the releases themselves still run through nbgrader.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nbgrader.api, "get_alembic_version", _alembic_head)
        yield


@pytest.fixture(scope="module")
def toy(tmp_path_factory, alembic_head_once):
    """The toy lab's source (with an output to strip), released once for the whole module (nbgrader is slow)."""
    root = tmp_path_factory.mktemp("course")
    source_path = toy_lab.build(root / "solutions")
    notebook = nbformat.read(str(source_path), as_version=4)
    experiment = _cell(notebook, "experiment")
    experiment.execution_count = 3
    experiment.outputs = [nbformat.v4.new_output("stream", name="stdout", text="an experiment that grading skips\n")]
    nbformat.write(notebook, str(source_path))
    release_folder = release.release_lab(LAB_ID, root / "solutions", root / "labs")
    return {
        "root": root,
        "solutions": root / "solutions",
        "labs": root / "labs",
        "source_path": source_path,
        "release_path": release_folder / f"{LAB_ID}.ipynb",
        "lab": lab_module.load_lab(source_path),
    }


# ---------------------------------------------------------------------------
# load_lab.


def test_load_lab_identity(toy):
    lab = toy["lab"]
    assert lab.lab_id == LAB_ID
    assert lab.notebook_name == f"{LAB_ID}.ipynb"
    assert lab.source_path == toy["source_path"]


def test_load_lab_cells_and_roles(toy):
    roles = [(cell.grade_id, cell.role) for cell in toy["lab"].cells]
    # The markdown cell is not a code cell and does not appear.
    assert roles == [
        ("imports", "setup"),
        ("relu", "answer"),
        ("test_relu", "test"),
        ("square", "answer"),
        ("test_square", "test"),
        ("experiment", "experiment"),
    ]
    assert toy["lab"].answer_ids() == ["relu", "square"]


def test_load_lab_parts_points_and_hidden_checks(toy):
    lab = toy["lab"]
    assert [(part.grade_id, part.points) for part in lab.parts] == [("test_relu", 2.0), ("test_square", 1.0)]
    assert lab.max_points == 3.0
    relu_part, square_part = lab.parts
    assert [(graded.check.description, graded.hidden) for graded in relu_part.checks] == [
        ("relu matches keras.activations.relu", False),
        ("relu on a matrix", True),
    ]
    assert [(graded.check.description, graded.hidden) for graded in square_part.checks] == [
        ("square of a few numbers", False),
        ("square of more numbers", True),
    ]
    assert relu_part.checks[0].check.reference == "keras.activations.relu"
    assert relu_part.checks[1].check.expected is not None
    assert all(graded.check.target == "relu" for graded in relu_part.checks)


def test_load_lab_check_keys_are_unique_and_stable(toy):
    keys = [graded.key for graded in toy["lab"].all_checks()]
    assert len(keys) == 4
    assert len(set(keys)) == 4
    assert keys[0].startswith("test_relu:0:")
    assert keys[3].startswith("test_square:1:")
    reloaded = lab_module.load_lab(toy["source_path"])
    assert [graded.key for graded in reloaded.all_checks()] == keys


def test_load_lab_settings(toy):
    lab = toy["lab"]
    assert lab.forbidden_builtins == {"relu": ["keras.activations.relu", "keras.ops.relu"]}
    assert lab.limits.cell_seconds == 10
    assert lab.limits.memory_megabytes == 2000


def test_find_labs(toy, tmp_path):
    assert [lab.lab_id for lab in lab_module.find_labs(toy["solutions"])] == [LAB_ID]


def _variant(tmp_path, mutate):
    """Build the toy lab under tmp_path, change its source notebook with mutate and return the path."""
    source_path = toy_lab.build(tmp_path / "solutions")
    notebook = nbformat.read(str(source_path), as_version=4)
    mutate(notebook)
    nbformat.write(notebook, str(source_path))
    return source_path


def test_duplicate_grade_id_is_an_error(tmp_path):
    def duplicate(notebook):
        _cell(notebook, "square").metadata["nbgrader"]["grade_id"] = "relu"

    with pytest.raises(lab_module.LabDefinitionError, match="'relu': grade_id used twice"):
        lab_module.load_lab(_variant(tmp_path, duplicate))


def test_test_cell_using_student_object_directly_is_an_error(tmp_path):
    def direct_call(notebook):
        _cell(notebook, "test_square").source += "\nassert square(2.0) == 4.0\n"

    with pytest.raises(lab_module.LabDefinitionError) as raised:
        lab_module.load_lab(_variant(tmp_path, direct_call))
    message = str(raised.value)
    assert "'test_square'" in message
    assert "NameError" in message
    assert "square" in message


def test_graded_cell_without_points_is_an_error(tmp_path):
    def no_points(notebook):
        del _cell(notebook, "test_square").metadata["nbgrader"]["points"]

    with pytest.raises(lab_module.LabDefinitionError, match="positive points"):
        lab_module.load_lab(_variant(tmp_path, no_points))


def test_graded_cell_with_zero_points_is_an_error(tmp_path):
    def zero_points(notebook):
        _cell(notebook, "test_relu").metadata["nbgrader"]["points"] = 0

    with pytest.raises(lab_module.LabDefinitionError, match="positive points"):
        lab_module.load_lab(_variant(tmp_path, zero_points))


def test_missing_grade_id_is_an_error(tmp_path):
    def no_grade_id(notebook):
        del _cell(notebook, "imports").metadata["nbgrader"]

    with pytest.raises(lab_module.LabDefinitionError, match="every code cell needs an nbgrader grade_id"):
        lab_module.load_lab(_variant(tmp_path, no_grade_id))


def test_graded_cell_without_checks_is_an_error(tmp_path):
    def no_checks(notebook):
        _cell(notebook, "test_square").source = "from labkit import checks\n"

    with pytest.raises(lab_module.LabDefinitionError, match="at least one check"):
        lab_module.load_lab(_variant(tmp_path, no_checks))


def test_lab_without_graded_cells_is_an_error(tmp_path):
    def ungraded(notebook):
        notebook.cells = [cell for cell in notebook.cells
                          if not cell.get("metadata", {}).get("nbgrader", {}).get("grade")]

    with pytest.raises(lab_module.LabDefinitionError, match="no graded test cells"):
        lab_module.load_lab(_variant(tmp_path, ungraded))


# ---------------------------------------------------------------------------
# release.


def test_release_removes_solutions_hidden_tests_and_outputs(toy):
    released = nbformat.read(str(toy["release_path"]), as_version=4)
    assert [cell.cell_type for cell in released.cells] == ["markdown"] + ["code"] * 6
    for grade_id in ("relu", "square"):
        source = _cell(released, grade_id).source
        assert "# YOUR CODE HERE" in source
        assert "raise NotImplementedError()" in source
        assert "BEGIN SOLUTION" not in source
    assert "np.maximum" not in _cell(released, "relu").source
    assert "values * values" not in _cell(released, "square").source
    for grade_id in ("test_relu", "test_square"):
        source = _cell(released, grade_id).source
        assert "HIDDEN TESTS" not in source
        assert "run_checks" in source
    assert "relu on a matrix" not in _cell(released, "test_relu").source
    assert "square of more numbers" not in _cell(released, "test_square").source
    for cell in released.cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None
    assert _cell(released, "test_relu").metadata["nbgrader"]["points"] == 2


def test_release_leaves_the_source_alone(toy):
    source = nbformat.read(str(toy["source_path"]), as_version=4)
    assert "BEGIN SOLUTION" in _cell(source, "relu").source
    assert "BEGIN HIDDEN TESTS" in _cell(source, "test_relu").source
    assert _cell(source, "experiment").outputs


def test_lab_ids(toy, tmp_path):
    assert release.lab_ids(toy["solutions"]) == [LAB_ID]
    toy_lab.build(tmp_path / "solutions")
    (tmp_path / "solutions" / "notes").mkdir()
    (tmp_path / "solutions" / "notes" / "scratch.ipynb").write_text("{}")
    assert release.lab_ids(tmp_path / "solutions") == [LAB_ID]
    assert release.lab_ids(tmp_path / "nothing here") == []


def test_release_unknown_lab_raises(toy, tmp_path):
    with pytest.raises(ValueError, match="no lab '99_missing'"):
        release.release_lab("99_missing", toy["solutions"], tmp_path / "labs")
    assert not (tmp_path / "labs").exists()


def test_release_differences(toy, tmp_path):
    assert release.release_differences(toy["solutions"], toy["labs"]) == []
    edited_labs = tmp_path / "labs"
    shutil.copytree(toy["labs"], edited_labs)
    edited_path = edited_labs / LAB_ID / f"{LAB_ID}.ipynb"
    notebook = nbformat.read(str(edited_path), as_version=4)
    _cell(notebook, "imports").source = "import numpy as np  # edited by hand"
    nbformat.write(notebook, str(edited_path))
    (edited_labs / LAB_ID / "stray.txt").write_text("not part of the release")
    assert release.release_differences(toy["solutions"], edited_labs) == [
        str(edited_labs / LAB_ID / f"{LAB_ID}.ipynb"),
        str(edited_labs / LAB_ID / "stray.txt"),
    ]


# ---------------------------------------------------------------------------
# build_program.


def _program(toy, tmp_path, answers=None, edit=None):
    notebook = samples.make_submission(toy["release_path"], toy["source_path"], answers=answers, edit=edit)
    path = samples.write_notebook(notebook, tmp_path / "student" / f"{LAB_ID}.ipynb")
    return submission.build_program(toy["lab"], path)


def _labels(program):
    return [cell["label"] for cell in program.cells]


def test_program_of_complete_submission(toy, tmp_path):
    program = _program(toy, tmp_path)
    assert program.readable
    assert program.notes == []
    assert _labels(program) == ["imports", "relu", "square"]
    assert [cell["origin"] for cell in program.cells] == ["setup", "answer", "answer"]
    assert "np.maximum" in program.answers["relu"]
    assert set(program.answers) == {"relu", "square"}


def test_program_has_no_test_or_experiment_cells(toy, tmp_path):
    program = _program(toy, tmp_path)
    sources = "\n".join(cell["source"] for cell in program.cells)
    assert "run_checks" not in sources
    assert "an experiment that grading skips" not in sources
    assert not {"test_relu", "test_square", "experiment"} & set(_labels(program))


def test_program_takes_answers_from_the_student(toy, tmp_path):
    answer = "def relu(values):\n    return values  # wrong on purpose\n"
    program = _program(toy, tmp_path, answers={"relu": answer})
    assert program.cells[1] == {"label": "relu", "source": answer, "origin": "answer"}
    assert program.answers["relu"] == answer
    assert program.notes == []


def test_program_uses_source_setup_cells_even_when_edited(toy, tmp_path):
    def edit(notebook):
        _cell(notebook, "imports").source = "import numpy as np\nnp.allclose = lambda *a, **k: True"

    program = _program(toy, tmp_path, edit=edit)
    assert program.cells[0] == {"label": "imports", "source": "import numpy as np", "origin": "setup"}
    assert program.notes == ["the read-only cell `imports` was edited; the original was used"]


def test_program_notes_edited_test_cells_but_never_runs_them(toy, tmp_path):
    def edit(notebook):
        _cell(notebook, "test_relu").source = "pass  # tests removed"

    program = _program(toy, tmp_path, edit=edit)
    assert program.notes == ["the test cell `test_relu` was edited; the original was used"]
    assert "tests removed" not in "".join(cell["source"] for cell in program.cells)
    assert _labels(program) == ["imports", "relu", "square"]


def test_program_keeps_student_added_cells_in_position(toy, tmp_path):
    def edit(notebook):
        notebook.cells.insert(0, nbformat.v4.new_code_cell("top = 1"))
        notebook.cells.insert(_index(notebook, "relu") + 1, nbformat.v4.new_code_cell("helper = 2"))
        notebook.cells.insert(_index(notebook, "test_relu") + 1, nbformat.v4.new_code_cell("after_test = 3"))
        notebook.cells.insert(_index(notebook, "test_relu") + 1, nbformat.v4.new_markdown_cell("my notes"))
        notebook.cells.append(nbformat.v4.new_code_cell("last = 4"))

    program = _program(toy, tmp_path, edit=edit)
    assert _labels(program) == ["extra-1", "imports", "relu", "extra-2", "extra-3", "square", "extra-4"]
    added = [(cell["source"], cell["origin"]) for cell in program.cells if cell["label"].startswith("extra")]
    assert added == [("top = 1", "added"), ("helper = 2", "added"), ("after_test = 3", "added"),
                     ("last = 4", "added")]
    assert program.notes == []
    assert set(program.answers) == {"relu", "square"}


def test_program_duplicated_answer_cell_becomes_extra_cell(toy, tmp_path):
    def edit(notebook):
        duplicate = copy.deepcopy(_cell(notebook, "relu"))
        duplicate.id = "relu-copy"
        duplicate.source = "def relu(values):\n    return values\n"
        notebook.cells.insert(_index(notebook, "relu") + 1, duplicate)

    program = _program(toy, tmp_path, edit=edit)
    assert _labels(program) == ["imports", "relu", "extra-1", "square"]
    assert program.cells[2] == {"label": "extra-1", "source": "def relu(values):\n    return values\n",
                                "origin": "added"}
    assert "np.maximum" in program.answers["relu"]
    assert program.notes == ["cell `relu` appears more than once; the copy runs as your own extra cell"]


def test_program_deleted_answer_cell_is_noted(toy, tmp_path):
    def edit(notebook):
        notebook.cells.remove(_cell(notebook, "square"))

    program = _program(toy, tmp_path, edit=edit)
    assert _labels(program) == ["imports", "relu"]
    assert "square" not in program.answers
    assert program.notes == ["the answer cell `square` is missing from the notebook"]


def test_program_deleted_setup_cell_still_runs_from_source(toy, tmp_path):
    def edit(notebook):
        notebook.cells.remove(_cell(notebook, "imports"))

    program = _program(toy, tmp_path, edit=edit)
    assert program.cells[0] == {"label": "imports", "source": "import numpy as np", "origin": "setup"}
    assert program.notes == ["the read-only cell `imports` is missing from the notebook"]


@pytest.mark.parametrize("content", ["{not json", "[]", '{"cells": 3}', ""])
def test_program_of_unreadable_notebook(toy, tmp_path, content):
    path = tmp_path / f"{LAB_ID}.ipynb"
    path.write_text(content)
    program = submission.build_program(toy["lab"], path)
    assert program.readable is False
    assert program.cells == []
    assert program.answers == {}
    assert len(program.notes) == 1
    assert "could not be read as Jupyter JSON" in program.notes[0]


def test_program_of_missing_file(toy, tmp_path):
    program = submission.build_program(toy["lab"], tmp_path / "absent.ipynb")
    assert program.readable is False
    assert "could not be read" in program.notes[0]


def test_notebook_saved_by_jupyter_unchanged_has_no_edit_notes(toy, tmp_path):
    """Jupyter drops trailing newlines, stores sources as line lists and adds outputs: not an edit."""
    notebook = samples.make_submission(toy["release_path"], toy["source_path"])
    for index, cell in enumerate(notebook.cells):
        cell.source = cell.source.rstrip("\n")
        if cell.cell_type == "code":
            cell.execution_count = index
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="  [PASS] something\n")]
            cell.metadata["execution"] = {"iopub.status.busy": "2024-01-01T00:00:00.000Z"}
    path = tmp_path / f"{LAB_ID}.ipynb"
    nbformat.write(notebook, str(path))
    raw = json.loads(path.read_text())
    assert any(isinstance(cell["source"], list) for cell in raw["cells"])
    program = submission.build_program(toy["lab"], path)
    assert program.readable
    assert program.notes == []
    assert _labels(program) == ["imports", "relu", "square"]


def test_released_notebook_itself_has_no_edit_notes(toy):
    program = submission.build_program(toy["lab"], toy["release_path"])
    assert program.notes == []
    assert "raise NotImplementedError()" in program.answers["relu"]


def test_student_tools_must_name_labkit_modules(tmp_path):
    def lend_numpy(notebook):
        notebook.metadata.setdefault("labkit", {})["student_tools"] = ["numpy"]

    with pytest.raises(lab_module.LabDefinitionError, match="student_tools must list labkit modules"):
        lab_module.load_lab(_variant(tmp_path, lend_numpy))


def test_student_tools_are_read_from_the_metadata(tmp_path):
    def lend_autodiff(notebook):
        notebook.metadata.setdefault("labkit", {})["student_tools"] = ["labkit.autodiff"]

    assert lab_module.load_lab(_variant(tmp_path, lend_autodiff)).student_tools == ("labkit.autodiff",)


# ---------------------------------------------------------------------------
# Discussion questions (written answers) and "predict first" experiment cells.

MODEL_ANSWER = "Momentum averages the gradients, so the zig-zag across the valley cancels out."


def _with_discussion(notebook):
    """A locked question, its written answer (a markdown solution cell) and an editable experiment."""
    question = nbformat.v4.new_markdown_cell("**Question.** Why does momentum help?",
                                             metadata=toy_lab._metadata("discussion_question", "setup"))
    answer = nbformat.v4.new_markdown_cell(f"### BEGIN SOLUTION\n{MODEL_ANSWER}\n### END SOLUTION", metadata={
        "nbgrader": {"grade_id": "discussion_momentum", "schema_version": 3, "task": False,
                     "solution": True, "grade": False, "locked": False}})
    predict = nbformat.v4.new_code_cell("RATE = 0.1  # <- change this\nprint(RATE)",
                                        metadata=dict(toy_lab._metadata("predict_rate", "setup"), tags=["experiment"]))
    predict.metadata["nbgrader"]["locked"] = False
    notebook.cells[4:4] = [question, answer, predict]


def test_written_answers_are_ungraded_and_their_model_answers_stay_out_of_the_release(tmp_path, alembic_head_once):
    source_path = _variant(tmp_path, _with_discussion)
    lab = lab_module.load_lab(source_path)
    assert lab.answer_ids() == ["relu", "square"]  # the markdown answer is no code answer
    assert lab.max_points == 3
    (written,) = lab.written_answers
    assert written == lab_module.WrittenAnswer("discussion_momentum", "**Question.** Why does momentum help?",
                                               MODEL_ANSWER)
    predict = next(cell for cell in lab.cells if cell.grade_id == "predict_rate")
    assert predict.role == "experiment" and predict.editable
    assert not next(cell for cell in lab.cells if cell.grade_id == "experiment").editable

    released_path = release.release_lab(LAB_ID, tmp_path / "solutions", tmp_path / "labs") / f"{LAB_ID}.ipynb"
    released = nbformat.read(str(released_path), as_version=4)
    assert MODEL_ANSWER not in released_path.read_text() and "BEGIN SOLUTION" not in released_path.read_text()
    assert _cell(released, "discussion_momentum").source.strip() == "YOUR ANSWER HERE"
    assert _cell(released, "predict_rate").source == "RATE = 0.1  # <- change this\nprint(RATE)"

    def answer_and_tinker(notebook):
        _cell(notebook, "discussion_momentum").source = "Because it averages."
        _cell(notebook, "predict_rate").source = "RATE = 0.9  # <- change this\nprint(RATE)"

    submitted = samples.write_notebook(samples.make_submission(released_path, source_path, edit=answer_and_tinker),
                                       tmp_path / "student" / f"{LAB_ID}.ipynb")
    program = submission.build_program(lab, submitted)
    assert program.notes == []  # editing the predict-first cell is expected, not tampering
    assert _labels(program) == ["imports", "relu", "square"]  # neither runs during grading


def test_a_graded_written_answer_is_an_error(tmp_path):
    def graded(notebook):
        _with_discussion(notebook)
        _cell(notebook, "discussion_momentum").metadata["nbgrader"]["grade"] = True

    with pytest.raises(lab_module.LabDefinitionError, match="written answers are ungraded"):
        lab_module.load_lab(_variant(tmp_path, graded))


# Instructor-only cells (headline checks on experiments).

HEADLINE_SOURCE = "from labkit import phenomena\nphenomena.expect('relu clips negatives', relu(-1.0) == 0.0)"


def _with_headline(notebook):
    """An instructor-only cell (no grade_id needed) after the experiment."""
    headline = nbformat.v4.new_code_cell(HEADLINE_SOURCE, metadata={"tags": ["instructor"]})
    notebook.cells.insert(_index(notebook, "experiment") + 1, headline)


def test_instructor_cells_are_never_graded_nor_released(tmp_path, alembic_head_once):
    source_path = _variant(tmp_path, _with_headline)
    lab = lab_module.load_lab(source_path)
    assert all(HEADLINE_SOURCE not in cell.source for cell in lab.cells)
    released_path = release.release_lab(LAB_ID, tmp_path / "solutions", tmp_path / "labs") / f"{LAB_ID}.ipynb"
    assert "phenomena" not in released_path.read_text()
    assert "phenomena" in source_path.read_text()  # the source keeps it
    submitted = samples.write_notebook(samples.make_submission(released_path, source_path),
                                       tmp_path / "student" / f"{LAB_ID}.ipynb")
    program = submission.build_program(lab, submitted)
    assert program.notes == [] and _labels(program) == ["imports", "relu", "square"]


def test_remove_instructor_cells_reports_whether_it_changed_anything():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                               nbformat.v4.new_code_cell("check()", metadata={"tags": ["instructor"]})])
    assert release.remove_instructor_cells(notebook) is True
    assert [cell.source for cell in notebook.cells] == ["x = 1"]
    assert release.remove_instructor_cells(notebook) is False


def test_forbidden_in_source_is_refused_by_the_scan_without_being_disabled(tmp_path):
    """metadata.labkit.forbidden_in_source: built-ins a symbol's answer may not call, though the checks may (so
    the sandbox cannot disable them): only the static scan refuses them, on every backend."""
    from autograder import grading

    def square_in_source(notebook):
        notebook.metadata["labkit"]["forbidden_in_source"] = {"square": ["keras.ops.square", "jax.numpy.square"]}

    lab = lab_module.load_lab(_variant(tmp_path, square_in_source))
    assert lab.forbidden_in_source == {"square": ["keras.ops.square", "jax.numpy.square"]}
    assert "keras.ops.square" not in grading._all_forbidden(lab)  # never disabled while grading
    calls_it = types.SimpleNamespace(answers={"square": "from keras import ops\ndef square(x):\n    return ops.square(x)\n"})
    (problem,) = grading._forbidden_problems(lab, calls_it, {"square"})
    assert "`square` (cell `square`)" in problem and "ops.square" in problem
    own = types.SimpleNamespace(answers={"square": "def square(x):\n    return x * x\n"})
    assert grading._forbidden_problems(lab, own, {"square"}) == []


def test_forbidden_in_source_must_map_symbols_to_lists(tmp_path):
    def malformed(notebook):
        notebook.metadata["labkit"]["forbidden_in_source"] = {"relu": "keras.ops.relu"}

    with pytest.raises(lab_module.LabDefinitionError, match="forbidden_in_source"):
        lab_module.load_lab(_variant(tmp_path, malformed))
