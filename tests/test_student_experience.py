"""What a student sees: failed checks without tracebacks, quiet imports, one line per unfinished exercise."""

import ast
import os
import pathlib
import re
import sys

import nbclient
import nbformat
import pytest

import labkit.checks
import labkit.environment
import labkit.exercises

ROOT = pathlib.Path(__file__).resolve().parents[1]
TENSORFLOW_LOG_LINE = re.compile(r"^[IWEF]\d{4} |tensorflow/core|oneDNN|absl::|cuda_|TF-TRT", re.MULTILINE)


def unfinished_function():
    # YOUR CODE HERE
    raise NotImplementedError()


def finished_function(value):
    return value + 1


class UnfinishedLayer:
    def call(self, inputs):
        raise NotImplementedError()


class FinishedLayer:
    def call(self, inputs):
        return [inputs]


def test_check_failed_renders_its_message_without_a_traceback():
    error = labkit.checks.CheckFailed("1 of 2 checks failed (bowl).\nRead the lines above.")
    assert error._render_traceback_() == ["CheckFailed: 1 of 2 checks failed (bowl).", "Read the lines above."]


def test_unfinished_lists_missing_names_and_stubs_but_not_finished_code():
    namespace = {"unfinished_function": unfinished_function, "finished_function": finished_function,
                 "UnfinishedLayer": UnfinishedLayer, "FinishedLayer": FinishedLayer, "rate": 0.1}
    names = ["unfinished_function", "finished_function", "UnfinishedLayer", "FinishedLayer", "rate", "absent"]
    assert labkit.exercises.unfinished(namespace, names) == ["unfinished_function", "UnfinishedLayer", "absent"]


def test_unfinished_refuses_a_single_string():
    with pytest.raises(ValueError, match="list of exercise names"):
        labkit.exercises.unfinished({}, "gradient_descent")


def test_require_names_what_to_finish_in_one_line():
    labkit.exercises.require({"finished_function": finished_function}, "finished_function")
    with pytest.raises(labkit.exercises.ExerciseUnfinished) as raised:
        labkit.exercises.require({"unfinished_function": unfinished_function}, "unfinished_function", "absent")
    assert raised.value._render_traceback_() == [str(raised.value)]
    assert "`unfinished_function`, `absent`" in str(raised.value) and "\n" not in str(raised.value)


def test_untested_versions_notes_older_packages_only():
    minimums = dict(labkit.environment.TESTED_MINIMUMS, tensorflow=labkit.environment.TESTED_TENSORFLOW)
    assert labkit.environment.untested_versions(minimums) == []
    notes = labkit.environment.untested_versions({"keras": "3.10.0", "numpy": "2.4.6", "tensorflow": "2.19.0rc1"})
    assert len(notes) == 2
    assert notes[0].startswith("Note: keras 3.10.0 is older than 3.11") and "tensorflow 2.19.0rc1" in notes[1]


def test_quiet_native_logs_hides_tensorflow_log_lines_and_keeps_the_rest(capfd):
    with labkit.environment.quiet_native_logs():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 00:00:1796183061.709654   21068 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"E0000 00:00:1796183068.453141   21068 cuda_platform.cc:52] failed call to cuInit\n")
        os.write(2, b"a line of the student's own\n")
    assert capfd.readouterr().err == "a line of the student's own\n"


def test_load_backend_quietly_sets_the_log_level(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    labkit.environment.load_backend_quietly()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2" and "keras" in sys.modules


def _names(tree, context):
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, context)}


def _exercise_names(notebook):
    names = set()
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            for node in ast.parse(cell.source).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif isinstance(node, ast.Assign):
                    names |= _names(node, ast.Store)
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*/*.ipynb")), ids=lambda path: path.stem)
def test_experiment_cells_require_the_exercises_they_use(path):
    notebook = nbformat.read(str(path), 4)
    exercises = _exercise_names(notebook)
    for cell in notebook.cells:
        if "experiment" not in cell.metadata.get("tags", []):
            continue
        tree = ast.parse(cell.source)
        bound = _names(tree, ast.Store) | {node.arg for node in ast.walk(tree) if isinstance(node, ast.arg)}
        used = (_names(tree, ast.Load) - bound) & exercises
        if not used:
            continue
        first = tree.body[0]
        call = first.value if isinstance(first, ast.Expr) and isinstance(first.value, ast.Call) else None
        assert call is not None and ast.unparse(call.func).endswith("exercises.require"), \
            f"{path.stem}/{cell.metadata['nbgrader']['grade_id']}: start with labkit.exercises.require(globals(), ...)"
        required = {argument.value for argument in call.args[1:] if isinstance(argument, ast.Constant)}
        assert used <= required, f"{cell.metadata['nbgrader']['grade_id']}: also require {sorted(used - required)}"


@pytest.mark.slow
def test_a_release_in_a_real_kernel_shows_messages_not_tracebacks(tmp_path, monkeypatch):
    """Lab 01's release up to its first experiment: quiet imports, no echoed dict, one-line errors."""
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # the install cell must set it itself
    monkeypatch.setenv("LABKIT_MODE", "fast")
    notebook = nbformat.read(str(ROOT / "labs" / "01_optimization_basics" / "01_optimization_basics.ipynb"), 4)
    first_experiment = next(index for index, cell in enumerate(notebook.cells)
                            if "experiment" in cell.metadata.get("tags", []))
    notebook.cells = notebook.cells[:first_experiment + 1] + [nbformat.v4.new_code_cell("import time; time.sleep(1)")]
    client = nbclient.NotebookClient(notebook, timeout=300, allow_errors=True, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    roles = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in notebook.cells}
    imports = roles["setup_imports"]
    assert [output.output_type for output in imports.outputs] == ["stream"]  # printed lines, no echoed dict
    assert "Mode: fast" in "".join(output.text for output in imports.outputs)
    # Output written straight to the kernel's stderr can arrive with a later cell: look at all of them.
    streams = "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    assert not TENSORFLOW_LOG_LINE.search(streams), streams
    failed_check = [output for output in roles["test_gradient_descent"].outputs if output.output_type == "error"]
    assert len(failed_check) == 1 and failed_check[0].ename == "CheckFailed"
    assert failed_check[0].traceback[0].startswith("CheckFailed: ")
    assert not any("Traceback" in line or 'File "' in line for line in failed_check[0].traceback)
    experiment = notebook.cells[first_experiment]
    assert roles["colab_install"].outputs == []
    errors = [output for output in experiment.outputs if output.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "ExerciseUnfinished"
    assert errors[0].traceback == ["This experiment uses `gradient_descent`, which is not finished yet: complete "
                                   "it above (removing `raise NotImplementedError()`), run its cell, then run this "
                                   "cell again."]
    assert [output.output_type for output in experiment.outputs] == ["error"]
