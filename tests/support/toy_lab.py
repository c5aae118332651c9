"""A tiny lab (two graded parts) used to test the release and grading machinery quickly."""

import pathlib

import nbformat

LAB_ID = "00_toy"

RELU_SOLUTION = '''def relu(values):
    """max(values, 0) elementwise."""
    ### BEGIN SOLUTION
    return np.maximum(values, 0.0)
    ### END SOLUTION
'''

SQUARE_SOLUTION = '''def square(values):
    """values squared elementwise."""
    ### BEGIN SOLUTION
    return values * values
    ### END SOLUTION
'''

TEST_RELU = '''from labkit import checks, function_probes

checks.run_checks(globals(), [
    function_probes.matches("relu", "relu matches keras.activations.relu", [[-1.0, 0.0, 2.5]],
                            reference="keras.activations.relu", hint="negative inputs become 0"),
], title="relu")
### BEGIN HIDDEN TESTS
checks.run_checks(globals(), [
    function_probes.matches("relu", "relu on a matrix", [[[-3.0, 4.0], [0.5, -0.5]]],
                            expected_outputs=[[[0.0, 4.0], [0.5, 0.0]]], hint="works on any shape"),
])
### END HIDDEN TESTS
'''

TEST_SQUARE = '''from labkit import checks, function_probes

checks.run_checks(globals(), [
    function_probes.matches("square", "square of a few numbers", [[1.0, -2.0]], expected_outputs=[[1.0, 4.0]]),
])
### BEGIN HIDDEN TESTS
checks.run_checks(globals(), [
    function_probes.matches("square", "square of more numbers", [[3.0, 0.5]], expected_outputs=[[9.0, 0.25]],
                            hint="multiply each value by itself"),
])
### END HIDDEN TESTS
'''


def _metadata(grade_id, role, points=None):
    nbgrader = {"grade_id": grade_id, "schema_version": 3, "task": False,
                "solution": role == "answer", "grade": role == "test", "locked": role != "answer"}
    if points is not None:
        nbgrader["points"] = points
    return {"nbgrader": nbgrader}


def build(solutions_directory):
    """Write solutions/00_toy/00_toy.ipynb under solutions_directory and return its path."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["labkit"] = {
        "forbidden_builtins": {"relu": ["keras.activations.relu", "keras.ops.relu"]},
        "limits": {"cell_seconds": 10, "probe_seconds": 10, "total_seconds": 120, "memory_megabytes": 2000},
    }
    cells = [
        nbformat.v4.new_markdown_cell("# Toy lab", metadata=_metadata("intro", "setup")),
        nbformat.v4.new_code_cell("import numpy as np", metadata=_metadata("imports", "setup")),
        nbformat.v4.new_code_cell(RELU_SOLUTION, metadata=_metadata("relu", "answer")),
        nbformat.v4.new_code_cell(TEST_RELU, metadata=_metadata("test_relu", "test", points=2)),
        nbformat.v4.new_code_cell(SQUARE_SOLUTION, metadata=_metadata("square", "answer")),
        nbformat.v4.new_code_cell(TEST_SQUARE, metadata=_metadata("test_square", "test", points=1)),
        nbformat.v4.new_code_cell("print('an experiment that grading skips')",
                                  metadata=dict(_metadata("experiment", "setup"), tags=["experiment"])),
    ]
    notebook.cells = cells
    path = pathlib.Path(solutions_directory) / LAB_ID / f"{LAB_ID}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path
